//! `log`: one datagram to syslog (`/dev/log`, facility daemon) per message,
//! or a line on stderr when there is no syslog (a console, a test). Never
//! blocks: a line that cannot be written at once (a full syslog socket, a
//! stderr pipe nobody reads, a stopped terminal) is dropped and counted,
//! and the count is said before the next line that gets through.
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Err,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "err" | "error" => Level::Err,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }

    fn severity(self) -> u8 {
        match self {
            Level::Err => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

const LOG_DAEMON: u8 = 3 << 3;

static SERVICE: Mutex<String> = Mutex::new(String::new());
/// Lines dropped since the process started, and since the last report.
static DROPPED: AtomicU32 = AtomicU32::new(0);
static UNREPORTED: AtomicU32 = AtomicU32::new(0);

/// How many log lines were dropped because they could not be written at once.
pub fn dropped() -> u32 {
    DROPPED.load(Ordering::Relaxed)
}

fn drop_line() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
    UNREPORTED.fetch_add(1, Ordering::Relaxed);
}
static SYSLOG: Mutex<Option<UnixDatagram>> = Mutex::new(None);

/// The name used when env `UPD_SERVICE` is unset (the script's name).
pub fn set_default_service(name: &str) {
    if let Ok(mut s) = SERVICE.lock() {
        *s = name.to_string();
    }
}

/// `UPD_SERVICE`, else the default set above, else `upscript`.
pub fn service() -> String {
    if let Some(s) = std::env::var_os("UPD_SERVICE") {
        return s.to_string_lossy().into_owned();
    }
    match SERVICE.lock() {
        Ok(s) if !s.is_empty() => s.clone(),
        _ => "upscript".into(),
    }
}

/// The syslog datagram for a message.
pub fn syslog_line(level: Level, pid: u32, service: &str, msg: &str) -> String {
    format!(
        "<{}>upd[{pid}]: {service}: {msg}",
        LOG_DAEMON + level.severity()
    )
}

pub fn log(level: Level, msg: &str) {
    log_as(level, &service(), msg)
}

/// Logs under another tag: a child's output is `<service>[<argv0>]: line`.
pub fn log_as(level: Level, service: &str, msg: &str) {
    // A person running a script at a terminal reads its stderr, not syslog.
    let to_syslog = !crate::sys::proc::is_terminal(2);
    if let Some(mut g) = SYSLOG.lock().ok().filter(|_| to_syslog) {
        if g.is_none() {
            if let Ok(s) = UnixDatagram::unbound() {
                if s.connect("/dev/log").is_ok() && s.set_nonblocking(true).is_ok() {
                    *g = Some(s);
                }
            }
        }
        if let Some(s) = g.as_ref() {
            let pid = std::process::id();
            let n = UNREPORTED.load(Ordering::Relaxed);
            if n > 0 {
                let note = syslog_line(Level::Warn, pid, service, &dropped_note(n));
                if s.send(note.as_bytes()).is_ok() {
                    UNREPORTED.fetch_sub(n, Ordering::Relaxed);
                }
            }
            match s.send(syslog_line(level, pid, service, msg).as_bytes()) {
                Ok(_) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return drop_line(),
                // syslogd restarted: reconnect next time, this one goes to stderr.
                Err(_) => *g = None,
            }
        }
    }
    // On a console, debug lines only when asked for.
    if level != Level::Debug || std::env::var_os("UPD_DEBUG").is_some() {
        let n = UNREPORTED.load(Ordering::Relaxed);
        if n > 0
            && crate::sys::proc::write_stderr(
                format!("{service}: {}\n", dropped_note(n)).as_bytes(),
            )
        {
            UNREPORTED.fetch_sub(n, Ordering::Relaxed);
        }
        if !crate::sys::proc::write_stderr(format!("{service}: {msg}\n").as_bytes()) {
            drop_line();
        }
    }
}

fn dropped_note(n: u32) -> String {
    format!("{n} log lines dropped (the log could not take them at once)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_line_has_daemon_facility_and_severity() {
        assert_eq!(
            syslog_line(Level::Err, 42, "pppoe", "down"),
            "<27>upd[42]: pppoe: down"
        );
        assert_eq!(syslog_line(Level::Info, 1, "x", "y"), "<30>upd[1]: x: y");
        assert_eq!(Level::parse("warn"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
    }
}
