//! Process syscalls for the event loop: the signal mask and signalfd, child
//! subreaper, waitpid, kill, poll, the monotonic clock, pipes, the setup a
//! child does between fork and exec, and a forked producer. Safe wrappers;
//! the only `unsafe` for them.
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::cvt;

/// The signals the loop receives through its signalfd (and so blocks).
pub const LOOP_SIGNALS: [i32; 6] = [
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Blocks `LOOP_SIGNALS` in this process and returns a nonblocking,
/// close-on-exec signalfd that receives them.
pub fn block_and_signalfd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in LOOP_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
        let fd = cvt(libc::signalfd(
            -1,
            &set,
            libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads one pending signal from a signalfd; `None` when none is pending.
pub fn read_signal(fd: &OwnedFd) -> io::Result<Option<i32>> {
    // SAFETY: signalfd_siginfo is plain data; read writes at most its size.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = libc::read(
            fd.as_raw_fd(),
            &mut info as *mut _ as *mut libc::c_void,
            size,
        );
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(None),
                Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        if n as usize != size {
            return Ok(None);
        }
        Ok(Some(info.ssi_signo as i32))
    }
}

/// Orphans of our descendants are re-parented to us, so we can reap them.
pub fn set_child_subreaper() -> io::Result<()> {
    Ok(nix::sys::prctl::set_child_subreaper(true)?)
}

/// How a child ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// What `waitpid(-1, WNOHANG)` found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reaped {
    Child(i32, Exit),
    /// Children exist, none has ended yet.
    Running,
    /// No children at all.
    None,
}

/// Reaps one ended child, if any, without blocking. libc, not nix: nix's
/// `WaitStatus` fails (`EINVAL`) for a child killed by a realtime signal,
/// after the kernel has reaped it: its end would be lost.
pub fn reap_one() -> Reaped {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes the status int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            let exit = if libc::WIFSIGNALED(status) {
                Exit::Signal(libc::WTERMSIG(status))
            } else {
                Exit::Code(libc::WEXITSTATUS(status))
            };
            return Reaped::Child(pid, exit);
        }
        if pid == 0 {
            return Reaped::Running;
        }
        if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Reaped::None;
    }
}

/// `kill(pid, sig)`; a negative `pid` names a process group.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // libc, not nix: nix's `Signal` has no realtime signals (SIGRTMIN+n), and
    // a script may send any number the kernel takes.
    // SAFETY: kill with integer arguments.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// poll(2). `timeout_ms < 0` waits forever. EINTR counts as "nothing ready".
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the caller's slice.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}

/// CLOCK_MONOTONIC in seconds.
pub fn monotonic() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    // (CLOCK_MONOTONIC cannot fail on Linux)
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as f64 + ts.tv_nsec() as f64 * 1e-9,
        Err(_) => 0.0,
    }
}

/// How many CPUs are online (1 when the kernel does not say).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf only reads.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as usize
}

/// Forks a child that runs `produce` on the write end of a new pipe, then
/// `_exit`s (0 when `produce` returned true): a producer working beside us.
/// Returns the (blocking) read end and the child's pid, to be reaped with
/// `wait_pid`. Only for a single-threaded process (the child allocates).
pub fn fork_producer(
    produce: impl FnOnce(&mut std::fs::File) -> bool,
) -> io::Result<(OwnedFd, i32)> {
    let (r, w) = cloexec_pipe()?;
    // SAFETY: the child only runs `produce` and `_exit`s: it never returns
    // into the caller's frames or runs its destructors.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(r);
            let ok = produce(&mut std::fs::File::from(w));
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        pid => Ok((r, pid)),
    }
}

/// Waits for (and reaps) child `pid`.
pub fn wait_pid(pid: i32) {
    let pid = nix::unistd::Pid::from_raw(pid);
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
}

/// A close-on-exec pipe `(read, write)`; the read end is nonblocking.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = cloexec_pipe()?;
    set_nonblocking(r.as_raw_fd())?;
    Ok((r, w))
}

/// A close-on-exec pipe `(read, write)` for a child's stdin: the read end,
/// the child's, blocks as programs expect; our write end does not.
pub fn input_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = cloexec_pipe()?;
    set_nonblocking(w.as_raw_fd())?;
    Ok((r, w))
}

/// A close-on-exec pipe `(read, write)`, both ends blocking.
fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Sets O_NONBLOCK on an fd we own.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd the caller owns.
    unsafe {
        let fl = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        cvt(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK)).map(drop)
    }
}

/// Sets close-on-exec on an inherited fd (`NOTIFY_FD`: our children must not
/// hold the supervisor's notification pipe open). Errors are ignored: the fd
/// may not be open.
pub fn set_cloexec(fd: RawFd) {
    if fd < 3 {
        return;
    }
    // SAFETY: fcntl on a number; a closed fd only makes it fail.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFD);
        if fl >= 0 {
            libc::fcntl(fd, libc::F_SETFD, fl | libc::FD_CLOEXEC);
        }
    }
}

/// s6-style readiness: writes a newline to the inherited fd `fd` and closes it.
pub fn notify_and_close(fd: RawFd) -> io::Result<()> {
    if fd < 3 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fcntl(F_GETFD) checks the fd is open before we take ownership of it.
    unsafe {
        cvt(libc::fcntl(fd, libc::F_GETFD))?;
        let owned = OwnedFd::from_raw_fd(fd);
        let n = libc::write(owned.as_raw_fd(), b"\n".as_ptr() as *const libc::c_void, 1);
        if n != 1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// What `spawn` starts: everything already a C string or a pointer, so the
/// forked child allocates nothing. `argv` and `envp` end with a null pointer.
pub struct Exec<'a> {
    /// Searched in `envp`'s PATH when it has no `/` (as execvp does).
    pub program: &'a CStr,
    pub argv: &'a [*const libc::c_char],
    /// `None`: this process's environment.
    pub envp: Option<&'a [*const libc::c_char]>,
    pub cwd: Option<&'a CStr>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The one supplementary group the child keeps when root drops to
    /// `uid` (the state root's publishers' group); else it keeps none.
    pub extra_group: Option<u32>,
    /// Sent to the child when this process dies (`PR_SET_PDEATHSIG`).
    pub death_signal: i32,
    /// The child's stdin, stdout and stderr.
    pub stdio: [RawFd; 3],
    /// Kept open across exec (the notification pipe).
    pub keep_fd: Option<RawFd>,
}

extern "C" {
    static mut environ: *const *const libc::c_char;
}

/// fork and exec, as std's `Command` with `process_group(0)` does: an exec
/// failure comes back as its errno through a close-on-exec pipe (the child
/// is reaped then), so `spawn X: No such file or directory` is immediate.
/// The child also gets an empty signal mask and default dispositions (the
/// loop blocks its signals; Rust ignores SIGPIPE), and `death_signal` when
/// this process dies (so a daemon never outlives a SIGKILLed script).
pub fn spawn(e: &Exec) -> io::Result<i32> {
    let (errors_r, errors_w) = pipe()?;
    // The read end must block: we wait for exec or the errno.
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = cvt(libc::fcntl(errors_r.as_raw_fd(), libc::F_GETFL))?;
        cvt(libc::fcntl(
            errors_r.as_raw_fd(),
            libc::F_SETFL,
            fl & !libc::O_NONBLOCK,
        ))?;
    }
    let parent = getpid();
    // SAFETY: the child only makes async-signal-safe calls on memory
    // prepared before the fork, then execs or _exits.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        let errno = unsafe { exec_child(e, parent) };
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&errno.to_be_bytes());
        msg[4..].copy_from_slice(b"NOEX");
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            libc::write(errors_w.as_raw_fd(), msg.as_ptr() as *const libc::c_void, 8);
            libc::_exit(1);
        }
    }
    drop(errors_w);
    let mut msg = [0u8; 8];
    let mut got = 0;
    while got < msg.len() {
        // SAFETY: reads into the rest of our buffer.
        let n = unsafe {
            libc::read(
                errors_r.as_raw_fd(),
                msg[got..].as_mut_ptr() as *mut libc::c_void,
                msg.len() - got,
            )
        };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    if got == 0 {
        return Ok(pid);
    }
    let mut status = 0;
    // SAFETY: waitpid on the child we just forked, which exits at once.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
    if got == msg.len() && &msg[4..] == b"NOEX" {
        let errno = i32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]);
        return Err(io::Error::from_raw_os_error(errno));
    }
    Err(io::Error::other("the child failed before exec"))
}

/// The forked child, up to exec; returns the errno of what failed.
///
/// # Safety
/// Only in the child of a fork, with `e` prepared by the parent.
unsafe fn exec_child(e: &Exec, parent: i32) -> i32 {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    };
    for (fd, target) in e.stdio.iter().zip(0..) {
        if *fd == target {
            // dup2 onto itself would keep close-on-exec set.
            let fl = libc::fcntl(target, libc::F_GETFD);
            if fl < 0 || libc::fcntl(target, libc::F_SETFD, fl & !libc::FD_CLOEXEC) < 0 {
                return errno();
            }
        } else if libc::dup2(*fd, target) < 0 {
            return errno();
        }
    }
    if let Some(g) = e.gid {
        if libc::setgid(g) < 0 {
            return errno();
        }
    }
    if let Some(u) = e.uid {
        // Dropping root: no supplementary groups of ours either, but the
        // publishers' group when given.
        if libc::getuid() == 0 {
            match &e.extra_group {
                Some(g) => {
                    if libc::setgroups(1, g) < 0 {
                        return errno();
                    }
                }
                None => {
                    libc::setgroups(0, std::ptr::null());
                }
            }
        }
        if libc::setuid(u) < 0 {
            return errno();
        }
    }
    if let Some(dir) = e.cwd {
        if libc::chdir(dir.as_ptr()) < 0 {
            return errno();
        }
    }
    if libc::setpgid(0, 0) < 0 {
        return errno();
    }
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) < 0 {
        return errno();
    }
    for s in LOOP_SIGNALS {
        libc::signal(s, libc::SIG_DFL);
    }
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    if libc::prctl(
        libc::PR_SET_PDEATHSIG,
        e.death_signal as libc::c_ulong,
        0,
        0,
        0,
    ) < 0
    {
        return errno();
    }
    // The parent may have died before prctl: then nobody would send the signal.
    if libc::getppid() != parent {
        libc::_exit(111);
    }
    if let Some(fd) = e.keep_fd {
        let fl = libc::fcntl(fd, libc::F_GETFD);
        if fl < 0 || libc::fcntl(fd, libc::F_SETFD, fl & !libc::FD_CLOEXEC) < 0 {
            return errno();
        }
    }
    if let Some(envp) = e.envp {
        // execvp searches the PATH of `environ`: the child's own.
        environ = envp.as_ptr();
    }
    libc::execvp(e.program.as_ptr(), e.argv.as_ptr());
    errno()
}

/// Our own pid.
pub fn getpid() -> i32 {
    std::process::id() as i32
}

/// Our effective user id.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// `strerror` text for an errno value, without Rust's " (os error N)" suffix.
pub fn error_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_advances() {
        let a = monotonic();
        let b = monotonic();
        assert!(a > 0.0 && b >= a);
    }

    #[test]
    fn error_text_drops_the_os_error_suffix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(error_text(&e), "No such file or directory");
    }

    #[test]
    fn pipe_read_end_is_nonblocking() {
        let (r, _w) = pipe().unwrap();
        let mut f = std::fs::File::from(r);
        let mut buf = [0u8; 4];
        let e = std::io::Read::read(&mut f, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}

/// How `write_stderr` reaches fd 2 without blocking (chosen once).
const ERR_UNKNOWN: i32 = -1;
/// A regular file (or unknown): plain writes, which do not block on a full pipe.
const ERR_PLAIN: i32 = -2;
/// A socket: `send` with `MSG_DONTWAIT`.
const ERR_SOCKET: i32 = -3;
/// A pipe or terminal that could not be opened again: `poll` first.
const ERR_POLL: i32 = -4;

static ERR_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(ERR_UNKNOWN);

/// A way to write to our stderr that never blocks. Setting `O_NONBLOCK` on
/// fd 2 itself would change the open file description our children share
/// (their writes would start failing with `EAGAIN`), so a pipe or a
/// terminal is opened again through `/proc/self/fd/2`: a description of our
/// own, non-blocking.
fn stderr_way() -> i32 {
    use std::sync::atomic::Ordering;
    let way = ERR_FD.load(Ordering::Relaxed);
    if way != ERR_UNKNOWN {
        return way;
    }
    // SAFETY: fstat into a zeroed struct; open of a NUL-terminated path.
    let way = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(2, &mut st) < 0 {
            ERR_PLAIN
        } else {
            match st.st_mode & libc::S_IFMT {
                libc::S_IFSOCK => ERR_SOCKET,
                libc::S_IFIFO | libc::S_IFCHR => {
                    let fd = libc::open(
                        c"/proc/self/fd/2".as_ptr(),
                        libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
                    );
                    if fd >= 0 {
                        fd
                    } else {
                        ERR_POLL
                    }
                }
                _ => ERR_PLAIN,
            }
        }
    };
    ERR_FD.store(way, Ordering::Relaxed);
    way
}

/// Writes `line` to stderr if that can be done without blocking; `false`
/// when it was dropped (nobody reads the pipe, a terminal is stopped).
/// Lines up to `PIPE_BUF` (4096 bytes) go whole or not at all.
pub fn write_stderr(line: &[u8]) -> bool {
    let line = &line[..line.len().min(libc::PIPE_BUF)];
    let way = stderr_way();
    // SAFETY: writes from a live slice to fd 2 or our own fd.
    let n = unsafe {
        match way {
            ERR_SOCKET => libc::send(
                2,
                line.as_ptr().cast(),
                line.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            ),
            ERR_POLL => {
                let mut p = libc::pollfd {
                    fd: 2,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                if libc::poll(&mut p, 1, 0) != 1 || p.revents & libc::POLLOUT == 0 {
                    return false;
                }
                libc::write(2, line.as_ptr().cast(), line.len())
            }
            ERR_PLAIN => libc::write(2, line.as_ptr().cast(), line.len()),
            fd => libc::write(fd, line.as_ptr().cast(), line.len()),
        }
    };
    n == line.len() as isize
}

/// Whether `fd` is a terminal (a person is reading it).
pub fn is_terminal(fd: i32) -> bool {
    unsafe { libc::isatty(fd) == 1 }
}
