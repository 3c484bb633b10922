//! Children: spawning (own process group, stdin /dev/null or a pipe we write,
//! stdout/stderr and an optional s6-style notification pipe), the table of
//! live children, and
//! the small parsers it needs (/etc/passwd, /etc/group, /proc/PID/stat).
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

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
    /// See `sys::proc::Exec::extra_group`.
    pub extra_group: Option<u32>,
    /// Sent to the child when we die; SIGTERM when 0 (a daemon may stop
    /// cleanly). The supervisor's scripts get SIGKILL: a script with a TERM
    /// handler of its own must not outlive its supervisor.
    pub death_signal: i32,
    pub notify: bool,
    /// The child writes to our stdout and stderr instead of pipes we read:
    /// a supervisor spends nothing on a script that floods its output.
    pub inherit_output: bool,
    /// Stdin is a pipe the script writes (`upd.write`), not /dev/null.
    pub input: bool,
    /// Stdout is handed over as read (`:output "bytes"`), not split into
    /// lines: a child speaking a binary protocol.
    pub stdout_bytes: bool,
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

/// A pipe we read lines (or, `bytes`, chunks as read) from.
pub struct Pipe {
    pub file: File,
    pub lines: LineBuf,
    pub bytes: bool,
}

impl Pipe {
    fn new(fd: OwnedFd, bytes: bool) -> io::Result<Pipe> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        Ok(Pipe {
            file: File::from(fd),
            lines: LineBuf::default(),
            bytes,
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
                if self.bytes {
                    out(&buf[..n]);
                } else {
                    self.lines.feed(&buf[..n], out);
                }
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
    /// The write end of its stdin (`Spec::input`), nonblocking.
    pub input: Option<File>,
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

/// A C string for the child; an interior NUL fails the spawn, as in std.
fn c_string(argv0: &str, b: &[u8]) -> Result<CString, SpawnError> {
    CString::new(b).map_err(|_| fail(argv0, "nul byte found in provided data"))
}

/// The child's environment: ours, with `set` replacing or adding variables
/// (a later one wins).
fn child_env(argv0: &str, set: &[(&[u8], &[u8])]) -> Result<Vec<CString>, SpawnError> {
    let mut env: Vec<CString> = Vec::new();
    let mut add = |k: &[u8], v: &[u8]| -> Result<(), SpawnError> {
        let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
        kv.extend_from_slice(k);
        kv.push(b'=');
        kv.extend_from_slice(v);
        env.retain(|e| !e.as_bytes().starts_with(&kv[..=k.len()]));
        env.push(c_string(argv0, &kv)?);
        Ok(())
    };
    for (k, v) in std::env::vars_os() {
        add(k.as_bytes(), v.as_bytes())?;
    }
    for (k, v) in set {
        add(k, v)?;
    }
    Ok(env)
}

/// A null-terminated array of pointers into `strings` (which must outlive it).
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    let mut v: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    v.push(std::ptr::null());
    v
}

/// Starts `spec`; the child gets `serial`.
pub fn spawn(spec: &Spec, serial: u32) -> Result<Child, SpawnError> {
    let argv0_bytes = spec
        .argv
        .first()
        .ok_or_else(|| SpawnError("spawn: empty argv".into()))?;
    let argv0 = String::from_utf8_lossy(argv0_bytes).into_owned();
    let argv = spec
        .argv
        .iter()
        .map(|a| c_string(&argv0, a))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = match &spec.cwd {
        Some(d) => Some(c_string(&argv0, d)?),
        None => None,
    };
    let (uid, gid) = resolve_ids(spec).map_err(|m| fail(&argv0, &m))?;
    let os_err = |e: io::Error| fail(&argv0, &sys::error_text(&e));
    let notify = if spec.notify {
        Some(sys::pipe().map_err(os_err)?)
    } else {
        None
    };
    let notify_fd = notify.as_ref().map(|(_, w)| w.as_raw_fd().to_string());
    let mut set: Vec<(&[u8], &[u8])> = spec.env.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    if let Some(fd) = &notify_fd {
        set.push((b"NOTIFY_FD", fd.as_bytes()));
    }
    let env = if set.is_empty() {
        None
    } else {
        Some(child_env(&argv0, &set)?)
    };
    let null = File::open("/dev/null").map_err(os_err)?;
    let input = if spec.input {
        Some(sys::input_pipe().map_err(os_err)?)
    } else {
        None
    };
    let stdin = input
        .as_ref()
        .map_or(null.as_raw_fd(), |(r, _)| r.as_raw_fd());
    let pipes = if spec.inherit_output {
        None
    } else {
        let (out_r, out_w) = sys::pipe().map_err(os_err)?;
        let (err_r, err_w) = sys::pipe().map_err(os_err)?;
        Some(((out_r, out_w), (err_r, err_w)))
    };
    let stdio = match &pipes {
        Some(((_, out_w), (_, err_w))) => [stdin, out_w.as_raw_fd(), err_w.as_raw_fd()],
        None => [stdin, 1, 2],
    };
    let argv_ptrs = pointers(&argv);
    let env_ptrs = env.as_deref().map(pointers);
    let pid = sys::spawn(&sys::Exec {
        program: &argv[0],
        argv: &argv_ptrs,
        envp: env_ptrs.as_deref(),
        cwd: cwd.as_deref(),
        uid,
        gid,
        extra_group: spec.extra_group,
        death_signal: if spec.death_signal > 0 {
            spec.death_signal
        } else {
            libc::SIGTERM
        },
        stdio,
        keep_fd: notify.as_ref().map(|(_, w)| w.as_raw_fd()),
    })
    .map_err(os_err)?;
    // The write ends live on in the child only: we see EOF when it closes them.
    drop(null);
    let (out, err) = match pipes {
        Some(((out_r, out_w), (err_r, err_w))) => {
            drop((out_w, err_w));
            (
                Pipe::new(out_r, spec.stdout_bytes).ok(),
                Pipe::new(err_r, false).ok(),
            )
        }
        None => (None, None),
    };
    let notify = notify.map(|(r, w)| {
        drop(w);
        File::from(r)
    });
    let input = input.map(|(r, w)| {
        drop(r);
        File::from(w)
    });
    Ok(Child {
        serial,
        pid,
        argv0,
        out,
        err,
        notify,
        input,
        on_line: spec.on_line,
        on_exit: spec.on_exit,
        on_ready: spec.on_ready,
        kill_timer: None,
    })
}

fn resolve_ids(spec: &Spec) -> Result<(Option<u32>, Option<u32>), String> {
    resolve_user(spec.user.as_deref(), spec.group.as_deref())
}

/// `:user`/`:group` (names or numbers) as numeric ids. A user name also
/// gives its primary group when no group is named.
pub fn resolve_user(
    user: Option<&str>,
    group: Option<&str>,
) -> Result<(Option<u32>, Option<u32>), String> {
    let mut uid = None;
    let mut gid = None;
    if let Some(u) = user {
        let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let (n, g) = match u.parse::<u32>() {
            // Never root's group for an unprivileged uid: its own primary
            // group, or the gid of the same number when /etc/passwd does
            // not list it.
            Ok(n) => (n, passwd_gid_of(&text, n).unwrap_or(n)),
            Err(_) => passwd_lookup(&text, u).ok_or_else(|| format!("unknown user {u}"))?,
        };
        uid = Some(n);
        gid = Some(g);
    }
    if let Some(g) = group {
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

/// The primary gid of the first `/etc/passwd` line with uid `uid`.
pub fn passwd_gid_of(text: &str, uid: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.nth(2)?.parse::<u32>().ok()? != uid {
            return None;
        }
        f.next()?.parse().ok()
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
    fn a_numeric_user_gets_its_own_group_never_roots() {
        assert_eq!(passwd_gid_of(PASSWD, 101), Some(7));
        assert_eq!(passwd_gid_of(PASSWD, 4242), None);
        let (u, g) = resolve_user(Some("4242"), None).unwrap();
        assert_eq!(
            (u, g),
            (Some(4242), Some(4242)),
            "unknown uid: gid of the same number"
        );
        let (u, g) = resolve_user(Some("4242"), Some("7")).unwrap();
        assert_eq!((u, g), (Some(4242), Some(7)));
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
    fn spawn_searches_the_path_of_the_childs_environment() {
        let spec = Spec {
            argv: vec![b"sh".to_vec(), b"-c".to_vec(), b"exit 0".to_vec()],
            env: vec![(b"PATH".to_vec(), b"/nonexistent-upd-path".to_vec())],
            ..Spec::default()
        };
        let e = spawn(&spec, 1).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("spawn sh: No such file or directory"));
    }

    #[test]
    fn spawn_refuses_a_nul_byte_as_std_did() {
        let spec = Spec {
            argv: vec![b"true".to_vec(), b"a\0b".to_vec()],
            ..Spec::default()
        };
        let e = spawn(&spec, 1).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("spawn true: nul byte found in provided data")
        );
    }

    #[test]
    fn child_env_replaces_and_adds_variables() {
        let set: [(&[u8], &[u8]); 3] = [
            (b"UPD_TEST_A", b"1"),
            (b"UPD_TEST_B", b"x=y"),
            (b"UPD_TEST_A", b"2"),
        ];
        let env = child_env("t", &set).unwrap();
        let env: Vec<&[u8]> = env.iter().map(|e| e.as_bytes()).collect();
        let a: Vec<_> = env
            .iter()
            .filter(|e| e.starts_with(b"UPD_TEST_A="))
            .collect();
        assert_eq!(a, [&&b"UPD_TEST_A=2"[..]]);
        assert!(env.contains(&&b"UPD_TEST_B=x=y"[..]));
        if let Some(path) = std::env::var_os("PATH") {
            let mut want = b"PATH=".to_vec();
            want.extend_from_slice(path.as_bytes());
            assert!(env.contains(&&want[..]), "inherited PATH kept");
        }
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
