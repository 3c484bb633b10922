//! `log`: one datagram to syslog (`/dev/log`, facility daemon) per message,
//! or a line on stderr when there is no syslog (a console, a test).
use std::os::unix::net::UnixDatagram;
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
                if s.connect("/dev/log").is_ok() {
                    *g = Some(s);
                }
            }
        }
        if let Some(s) = g.as_ref() {
            if s.send(syslog_line(level, std::process::id(), service, msg).as_bytes())
                .is_ok()
            {
                return;
            }
            // syslogd restarted: reconnect next time, this one goes to stderr.
            *g = None;
        }
    }
    // On a console, debug lines only when asked for.
    if level != Level::Debug || std::env::var_os("UPD_DEBUG").is_some() {
        eprintln!("{service}: {msg}");
    }
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
