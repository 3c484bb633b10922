//! Network syscalls: netlink sockets, interface names, network namespaces.
use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn sockaddr_nl(groups: u32) -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    sa
}

/// Opens a close-on-exec NETLINK_ROUTE socket bound to the multicast
/// `groups` (0: none, for requests), with the kernel choosing the port id.
pub fn netlink_route_socket(groups: u32, nonblock: bool) -> io::Result<OwnedFd> {
    let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
    if nonblock {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain syscall; the returned fd is owned right away.
    let fd = cvt(unsafe { libc::socket(libc::AF_NETLINK, ty, libc::NETLINK_ROUTE) })?;
    // SAFETY: fd was just returned by socket() and nobody else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = sockaddr_nl(groups);
    // SAFETY: sa is a valid sockaddr_nl and its size is passed.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

fn setsockopt_int(fd: BorrowedFd, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: v lives across the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// SO_RCVBUF: the kernel caps it at net.core.rmem_max (and doubles it).
pub fn set_rcvbuf(fd: BorrowedFd, bytes: usize) -> io::Result<()> {
    setsockopt_int(
        fd,
        libc::SO_RCVBUF,
        bytes.min(i32::MAX as usize) as libc::c_int,
    )
}

/// SO_RCVTIMEO: a blocking receive gives up (EAGAIN) after `secs`.
pub fn set_rcvtimeo(fd: BorrowedFd, secs: u32) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: secs as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: tv lives across the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Receives one datagram into `buf`. Returns the datagram's full length
/// (MSG_TRUNC: larger than `buf.len()` if it was cut) and the sender's port
/// id (0 is the kernel).
pub fn netlink_recv(fd: BorrowedFd, buf: &mut [u8]) -> io::Result<(usize, u32)> {
    let mut sa = sockaddr_nl(0);
    let mut sl = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: buf, sa and sl are valid for the sizes passed.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            libc::MSG_TRUNC,
            &mut sa as *mut libc::sockaddr_nl as *mut libc::sockaddr,
            &mut sl,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, sa.nl_pid))
}

/// Sends `msg` to the kernel (port id 0).
pub fn netlink_send_kernel(fd: BorrowedFd, msg: &[u8]) -> io::Result<()> {
    let sa = sockaddr_nl(0);
    // SAFETY: msg and sa are valid for the sizes passed.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr() as *const libc::c_void,
            msg.len(),
            0,
            &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The name of interface `index`, or None if there is none (now).
pub fn if_indextoname(index: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: buf holds IF_NAMESIZE bytes as the call requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr() as *mut libc::c_char) };
    if p.is_null() {
        return None;
    }
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Moves the calling thread into the network namespace `ns` (an open
/// /var/run/netns/NAME or /proc/PID/ns/net). Other threads stay where they are.
pub fn set_netns(ns: BorrowedFd) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed, open fd.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}
