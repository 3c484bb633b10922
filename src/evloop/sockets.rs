//! The loop's other byte sources: control FIFOs (s6 style: opened read-write
//! so they never report EOF) and one-shot unix-socket requests.
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};

use super::lines::LineBuf;
use crate::sys::proc::error_text;

/// The longest reply a unix request collects.
pub const MAX_REPLY: usize = 64 * 1024;

pub struct Fifo {
    pub id: u32,
    pub cb: u32,
    pub file: File,
    pub lines: LineBuf,
}

/// Creates the FIFO (mode 0600) if absent and opens it; refuses anything else
/// already at `path`.
pub fn open_fifo(path: &str) -> Result<File, String> {
    use std::os::unix::fs::MetadataExt;
    let make = || {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| format!("fifo {path}: {}", e.desc()))
    };
    match std::fs::symlink_metadata(path) {
        // Someone else's FIFO (a user who may write that directory put it
        // there): whoever owns it could read our commands or write their
        // own. Replaced by ours.
        Ok(m) if m.file_type().is_fifo() && m.uid() != crate::sys::fs::geteuid() => {
            std::fs::remove_file(path).map_err(|e| format!("fifo {path}: {}", error_text(&e)))?;
            make()?;
        }
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return Err(format!("fifo {path}: exists and is not a FIFO")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => make()?,
        Err(e) => return Err(format!("fifo {path}: {}", error_text(&e))),
    }
    // Read-write: we are a writer ourselves, so the FIFO never hits EOF when
    // a client closes, and poll does not spin on POLLHUP.
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("fifo {path}: {}", error_text(&e)))
}

impl Fifo {
    /// One read (at most `buf.len()` bytes), split into lines.
    pub fn read_some(&mut self, buf: &mut [u8], out: &mut dyn FnMut(&[u8])) {
        if let Ok(n) = self.file.read(buf) {
            self.lines.feed(&buf[..n], out);
        }
    }
}

/// A request in flight: write it all, half-close, read the reply until EOF.
pub struct Request {
    pub id: u32,
    pub cb: u32,
    pub timer: Option<u32>,
    sock: UnixStream,
    out: Vec<u8>,
    written: usize,
    pub reply: Vec<u8>,
}

/// What a request did when its socket was ready.
pub enum Progress {
    Pending,
    Done(Result<Vec<u8>, String>),
}

impl Request {
    pub fn connect(id: u32, cb: u32, path: &str, request: Vec<u8>) -> Result<Request, String> {
        let err = |e: nix::Error| format!("{path}: {}", e.desc());
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(err)?;
        let addr = UnixAddr::new(path).map_err(err)?;
        // A local connect completes at once or fails (EAGAIN: backlog full).
        connect(fd.as_raw_fd(), &addr).map_err(err)?;
        Ok(Request {
            id,
            cb,
            timer: None,
            sock: UnixStream::from(fd),
            out: request,
            written: 0,
            reply: Vec::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The poll events it waits for.
    pub fn interest(&self) -> i16 {
        if self.written < self.out.len() {
            libc::POLLOUT
        } else {
            libc::POLLIN
        }
    }

    /// Moves on after poll said the socket is ready; `buf` is scratch space.
    pub fn progress(&mut self, buf: &mut [u8]) -> Progress {
        if self.written < self.out.len() {
            match self.sock.write(&self.out[self.written..]) {
                Ok(n) => self.written += n,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Progress::Done(Err(error_text(&e))),
            }
            if self.written == self.out.len() {
                self.out = Vec::new();
                // The peer may read until EOF before it answers.
                let _ = self.sock.shutdown(std::net::Shutdown::Write);
            }
            return Progress::Pending;
        }
        match self.sock.read(buf) {
            Ok(0) => Progress::Done(Ok(std::mem::take(&mut self.reply))),
            Ok(n) => {
                if self.reply.len() + n > MAX_REPLY {
                    return Progress::Done(Err(format!("reply longer than {MAX_REPLY} bytes")));
                }
                self.reply.extend_from_slice(&buf[..n]);
                Progress::Pending
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                Progress::Pending
            }
            Err(e) => Progress::Done(Err(error_text(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_fifo_refuses_a_regular_file() {
        let p = std::env::temp_dir().join(format!("upd-fifo-test-{}", std::process::id()));
        std::fs::write(&p, b"x").unwrap();
        let e = open_fifo(p.to_str().unwrap()).err().unwrap();
        assert!(e.ends_with("exists and is not a FIFO"), "{e}");
        std::fs::remove_file(&p).unwrap();
        let f = open_fifo(p.to_str().unwrap());
        assert!(f.is_ok());
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_fifo());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn request_round_trip_over_a_socketpair_server() {
        use std::os::unix::net::UnixListener;
        let p = std::env::temp_dir().join(format!("upd-req-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let l = UnixListener::bind(&p).unwrap();
        let mut r = Request::connect(1, 1, p.to_str().unwrap(), b"ping".to_vec()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 64];
        assert!(matches!(r.progress(&mut buf), Progress::Pending));
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ping");
        s.write_all(b"pong").unwrap();
        drop(s);
        let mut result = None;
        for _ in 0..10 {
            if let Progress::Done(x) = r.progress(&mut buf) {
                result = Some(x);
                break;
            }
        }
        assert_eq!(result, Some(Ok(b"pong".to_vec())));
        let e = Request::connect(2, 2, "/nonexistent/upd.sock", vec![])
            .err()
            .unwrap();
        assert_eq!(e, "/nonexistent/upd.sock: No such file or directory");
        std::fs::remove_file(&p).unwrap();
    }
}
