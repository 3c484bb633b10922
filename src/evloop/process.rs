//! Children: spawning (own process group, stdin /dev/null, stdout/stderr and
//! an optional s6-style notification pipe), the table of live children, and
//! the small parsers it needs (/etc/passwd, /etc/group, /proc/PID/stat).
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::lines::LineBuf;
use crate::sys::proc as sys;

/// What to start (the Lua spec, already checked by the binding).
#[derive(Default)]
pub struct Spec {
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    pub cwd: Option<Vec<u8>>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub notify: bool,
    pub on_line: Option<u32>,
    pub on_exit: Option<u32>,
    pub on_ready: Option<u32>,
}

/// Which output of a child.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A pipe we read lines from.
pub struct Pipe {
    pub file: File,
    pub lines: LineBuf,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        Ok(Pipe {
            file: File::from(fd),
            lines: LineBuf::default(),
        })
    }

    /// One nonblocking read of at most `buf.len()` bytes (their number added
    /// to `got`), split into lines. Returns `false` at end of stream (or on an
    /// error): close it.
    pub fn read_some_counted(
        &mut self,
        buf: &mut [u8],
        got: &mut usize,
        out: &mut dyn FnMut(&[u8]),
    ) -> bool {
        match self.file.read(buf) {
            Ok(0) => {
                self.lines.finish(out);
                false
            }
            Ok(n) => {
                *got += n;
                self.lines.feed(&buf[..n], out);
                true
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                true
            }
            Err(_) => {
                self.lines.finish(out);
                false
            }
        }
    }
}

/// A child we started and have not reaped yet.
pub struct Child {
    /// Our own id for it: pids are reused, serials are not.
    pub serial: u32,
    pub pid: i32,
    pub argv0: String,
    pub out: Option<Pipe>,
    pub err: Option<Pipe>,
    pub notify: Option<File>,
    pub on_line: Option<u32>,
    pub on_exit: Option<u32>,
    pub on_ready: Option<u32>,
    /// The SIGKILL timer `terminate` armed.
    pub kill_timer: Option<u32>,
}

/// Why a spawn failed; `Display` is the message the script gets.
#[derive(Debug)]
pub struct SpawnError(pub String);

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(argv0: &str, what: &str) -> SpawnError {
    SpawnError(format!("spawn {argv0}: {what}"))
}

/// Starts `spec`; the child gets `serial`.
pub fn spawn(spec: &Spec, serial: u32) -> Result<Child, SpawnError> {
    let argv0_bytes = spec
        .argv
        .first()
        .ok_or_else(|| SpawnError("spawn: empty argv".into()))?;
    let argv0 = String::from_utf8_lossy(argv0_bytes).into_owned();
    let mut cmd = Command::new(OsString::from_vec(argv0_bytes.clone()));
    for a in &spec.argv[1..] {
        cmd.arg(OsString::from_vec(a.clone()));
    }
    for (k, v) in &spec.env {
        cmd.env(OsString::from_vec(k.clone()), OsString::from_vec(v.clone()));
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(OsString::from_vec(dir.clone()));
    }
    let (uid, gid) = resolve_ids(spec).map_err(|m| fail(&argv0, &m))?;
    if let Some(g) = gid {
        cmd.gid(g);
    }
    if let Some(u) = uid {
        cmd.uid(u);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let notify = if spec.notify {
        let (r, w) = sys::pipe().map_err(|e| fail(&argv0, &sys::error_text(&e)))?;
        cmd.env("NOTIFY_FD", w.as_raw_fd().to_string());
        Some((r, w))
    } else {
        None
    };
    sys::child_setup(&mut cmd, notify.as_ref().map(|(_, w)| w.as_raw_fd()));
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(&argv0, &sys::error_text(&e)))?;
    // The write end lives on in the child only: we see EOF when it closes it.
    let notify = notify.map(|(r, w)| {
        drop(w);
        File::from(r)
    });
    let pid = child.id() as i32;
    let mut out = None;
    let mut err = None;
    if let Some(o) = child.stdout.take() {
        out = Pipe::new(OwnedFd::from(o)).ok();
    }
    if let Some(e) = child.stderr.take() {
        err = Pipe::new(OwnedFd::from(e)).ok();
    }
    // `child` (std's handle) is dropped without waiting: the loop reaps by pid.
    Ok(Child {
        serial,
        pid,
        argv0,
        out,
        err,
        notify,
        on_line: spec.on_line,
        on_exit: spec.on_exit,
        on_ready: spec.on_ready,
        kill_timer: None,
    })
}

/// `:user`/`:group` as numeric ids. A user name also gives its primary group
/// when no group is named.
fn resolve_ids(spec: &Spec) -> Result<(Option<u32>, Option<u32>), String> {
    let mut uid = None;
    let mut gid = None;
    if let Some(u) = &spec.user {
        match u.parse::<u32>() {
            Ok(n) => uid = Some(n),
            Err(_) => {
                let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                let (n, g) = passwd_lookup(&text, u).ok_or_else(|| format!("unknown user {u}"))?;
                uid = Some(n);
                gid = Some(g);
            }
        }
    }
    if let Some(g) = &spec.group {
        match g.parse::<u32>() {
            Ok(n) => gid = Some(n),
            Err(_) => {
                let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
                gid = Some(group_lookup(&text, g).ok_or_else(|| format!("unknown group {g}"))?);
            }
        }
    }
    Ok((uid, gid))
}

/// `name:pw:uid:gid:...` -> `(uid, gid)` of the first line naming `name`.
pub fn passwd_lookup(text: &str, name: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _pw = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// `name:pw:gid:members` -> `gid` of the first line naming `name`.
pub fn group_lookup(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _pw = f.next()?;
        f.next()?.parse().ok()
    })
}

/// The parent pid in the text of `/proc/PID/stat`. The command name (field 2)
/// is in parentheses and may itself contain `)` and spaces: parse after the
/// last `)`.
pub fn stat_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    let _state = f.next()?;
    f.next()?.parse().ok()
}

/// Processes whose parent is `ppid` (orphans re-parented to us included),
/// found by scanning /proc: used only at shutdown.
pub fn children_of(ppid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let mut path = e.path();
        path.push("stat");
        if let Ok(s) = std::fs::read_to_string(&path) {
            if stat_ppid(&s) == Some(ppid) {
                v.push(pid);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        broken line\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        pppd:x:101:7:ppp:/:/bin/false\n";

    #[test]
    fn passwd_lookup_finds_uid_and_primary_gid() {
        assert_eq!(passwd_lookup(PASSWD, "pppd"), Some((101, 7)));
        assert_eq!(passwd_lookup(PASSWD, "root"), Some((0, 0)));
        assert_eq!(passwd_lookup(PASSWD, "ppp"), None);
        assert_eq!(passwd_lookup(PASSWD, "broken line"), None);
        assert_eq!(passwd_lookup("x:x:notanumber:1:::\n", "x"), None);
    }

    #[test]
    fn group_lookup_finds_gid() {
        let g = "root:x:0:\ndialout:x:20:pppd,root\n";
        assert_eq!(group_lookup(g, "dialout"), Some(20));
        assert_eq!(group_lookup(g, "dial"), None);
    }

    #[test]
    fn stat_ppid_survives_odd_command_names() {
        assert_eq!(stat_ppid("42 (sh) S 7 42 42 0 -1"), Some(7));
        assert_eq!(stat_ppid("42 (a) b) (c) Z 1234 42 42"), Some(1234));
        assert_eq!(stat_ppid("garbage"), None);
    }

    #[test]
    fn spawn_reports_a_missing_executable() {
        let spec = Spec {
            argv: vec![b"/nonexistent/upd-test-binary".to_vec()],
            ..Spec::default()
        };
        let e = spawn(&spec, 1).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("spawn /nonexistent/upd-test-binary: No such file or directory")
        );
    }

    #[test]
    fn unknown_user_is_an_error_naming_it() {
        let spec = Spec {
            argv: vec![b"true".to_vec()],
            user: Some("no-such-user-upd".into()),
            ..Spec::default()
        };
        let e = spawn(&spec, 1).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("spawn true: unknown user no-such-user-upd")
        );
    }
}
