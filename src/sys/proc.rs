//! Process syscalls for the event loop: the signal mask and signalfd, child
//! subreaper, waitpid, kill, poll, the monotonic clock, pipes, and the setup a
//! child does between fork and exec. Safe wrappers; the only `unsafe` for them.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;

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
    // SAFETY: prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) }).map(drop)
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

/// Reaps one ended child, if any, without blocking.
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
    // SAFETY: clock_gettime writes the timespec.
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// A close-on-exec pipe `(read, write)`; the read end is nonblocking.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds, which we then own.
    unsafe {
        cvt(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
        let (r, w) = (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]));
        set_nonblocking(r.as_raw_fd())?;
        Ok((r, w))
    }
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

/// Arranges for `cmd`'s child, between fork and exec: an empty signal mask
/// (the loop blocks its signals and the mask is inherited), SIGTERM when this
/// process dies (so a daemon never outlives a SIGKILLed script), and
/// `keep_fd` (the notification pipe) kept open across exec.
pub fn child_setup(cmd: &mut Command, keep_fd: Option<RawFd>) {
    // SAFETY: getpid is always safe.
    let parent = unsafe { libc::getpid() };
    let f = move || -> io::Result<()> {
        // Only async-signal-safe calls below: this runs in the forked child.
        // SAFETY: plain syscalls on values owned by the child.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            cvt(libc::sigprocmask(
                libc::SIG_SETMASK,
                &set,
                std::ptr::null_mut(),
            ))?;
            for s in LOOP_SIGNALS {
                libc::signal(s, libc::SIG_DFL);
            }
            cvt(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ))?;
            // The parent may have died before prctl: then nobody would send the signal.
            if libc::getppid() != parent {
                libc::_exit(111);
            }
            if let Some(fd) = keep_fd {
                let fl = cvt(libc::fcntl(fd, libc::F_GETFD))?;
                cvt(libc::fcntl(fd, libc::F_SETFD, fl & !libc::FD_CLOEXEC))?;
            }
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls and allocates nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, f);
    }
}

/// Our own pid.
pub fn getpid() -> i32 {
    std::process::id() as i32
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

/// Whether `fd` is a terminal (a person is reading it).
pub fn is_terminal(fd: i32) -> bool {
    unsafe { libc::isatty(fd) == 1 }
}
