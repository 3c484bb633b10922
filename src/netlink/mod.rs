//! rtnetlink: link and address events, dumps, and interface counters.
//!
//! `wire` turns bytes into `Event`s (pure, fuzzable); this file owns the
//! sockets. A `Monitor` is subscribed to link and IPv4/IPv6 address changes;
//! `dump_links`/`dump_addresses` ask for the current state on a separate,
//! short-lived socket so a dump never interleaves with notifications.
//!
//! Overrun: when the kernel drops notifications because the socket's queue
//! was full (ENOBUFS), or a datagram did not fit our buffer, `read_events`
//! returns an error for which `is_overrun` is true. The socket stays usable;
//! the caller should call `Monitor::resync` (or dump itself) to catch up.
use crate::sys::net as sys;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

pub mod wire;

pub use wire::{parse_messages, ParseError};

/// A link (interface) as rtnetlink reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub index: u32,
    pub ifname: String,
    pub up: bool,
    pub running: bool,
    /// IFF_LOWER_UP: the cable is in.
    pub carrier: bool,
    pub operstate: &'static str,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
    pub promiscuous: bool,
    /// RTM_DELLINK: the interface went away.
    pub removed: bool,
}

/// An address added to or removed from an interface.
#[derive(Clone, Debug, PartialEq)]
pub struct Address {
    pub added: bool,
    pub index: u32,
    /// Resolved from `index` by the monitor or dump; empty only if the
    /// interface was already gone and its name never seen.
    pub ifname: String,
    pub address: IpAddr,
    pub prefix_len: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Link(Link),
    Address(Address),
}

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// Receive buffer for notifications: a link message is 1-3 KiB on a router;
/// a bigger one is reported as an overrun and the caller's dump (with a
/// larger buffer) catches up.
const MONITOR_BUF: usize = 8 * 1024;
/// Dumps are read with a larger, temporary buffer: the kernel may pack a
/// datagram up to the size of the reads it has seen (and at most 32 KiB).
const DUMP_BUF: usize = 32 * 1024;
/// Kernel queue for notifications: enough for a burst of a few hundred
/// messages (the kernel caps it at net.core.rmem_max).
const MONITOR_RCVBUF: usize = 256 * 1024;
const DUMP_TIMEOUT_SECS: u32 = 5;
/// Bound on remembered index -> name pairs (a router has a few dozen).
const MAX_NAMES: usize = 1024;

/// True if `e` (from `Monitor::read_events`) means notifications were lost
/// and the caller should re-dump.
pub fn is_overrun(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOBUFS)
}

fn overrun() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOBUFS)
}

/// Remembers index -> name so address events (IPv6 carries no label) and
/// removals can be named even after the interface is gone.
#[derive(Default)]
struct Names {
    v: Vec<(u32, String)>,
}

impl Names {
    fn get(&self, index: u32) -> Option<&str> {
        self.v
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, n)| n.as_str())
    }
    fn set(&mut self, index: u32, name: &str) {
        if let Some(e) = self.v.iter_mut().find(|(i, _)| *i == index) {
            if e.1 != name {
                e.1 = name.to_string();
            }
            return;
        }
        if self.v.len() >= MAX_NAMES {
            self.v.clear();
        }
        self.v.push((index, name.to_string()));
    }
    fn remove(&mut self, index: u32) {
        self.v.retain(|(i, _)| *i != index);
    }
    /// Updates from a link event; fills in an address event's name.
    fn apply(&mut self, ev: &mut Event) {
        match ev {
            Event::Link(l) if l.removed => self.remove(l.index),
            Event::Link(l) => self.set(l.index, &l.ifname),
            Event::Address(a) => {
                if let Some(n) = self.get(a.index) {
                    if a.ifname != n {
                        a.ifname = n.to_string();
                    }
                } else if let Some(n) = sys::if_indextoname(a.index) {
                    self.set(a.index, &n);
                    a.ifname = n;
                }
                // else: keep the IFA_LABEL the parser found, if any.
            }
        }
    }
}

/// A socket subscribed to link and address change notifications.
pub struct Monitor {
    fd: OwnedFd,
    buf: Box<[u8]>,
    names: Names,
}

impl Monitor {
    /// Opens a nonblocking, close-on-exec NETLINK_ROUTE socket subscribed
    /// to link and IPv4/IPv6 address changes.
    pub fn open() -> io::Result<Monitor> {
        let fd =
            sys::netlink_route_socket(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, true)?;
        // Best effort: a smaller queue only means earlier overruns.
        let _ = sys::set_rcvbuf(fd.as_fd(), MONITOR_RCVBUF);
        Ok(Monitor {
            fd,
            buf: vec![0u8; MONITOR_BUF].into_boxed_slice(),
            names: Names::default(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Receives one datagram without blocking: `Ok(None)` when the queue is
    /// empty. Datagrams not from the kernel come back empty. For captures;
    /// `read_events` is the usual way in.
    pub fn recv_datagram(&mut self) -> io::Result<Option<&[u8]>> {
        Ok(recv_kernel(&self.fd, &mut self.buf)?.map(|n| &self.buf[..n]))
    }

    /// Reads what is queued without blocking and hands each event to `out`.
    /// A malformed message is logged (one line on stderr) and skipped.
    /// Returns an error with `is_overrun` true if events were lost.
    pub fn read_events(&mut self, out: &mut dyn FnMut(Event)) -> io::Result<()> {
        let Monitor { fd, buf, names } = self;
        while let Some(n) = recv_kernel(fd, buf)? {
            let mut lost = false;
            wire::parse_messages(&buf[..n], &mut |r| match r {
                Ok(mut ev) => {
                    names.apply(&mut ev);
                    out(ev);
                }
                Err(ParseError::Overrun) => lost = true,
                Err(e) => eprintln!("upd: netlink: skipped: {}", e),
            });
            if lost {
                return Err(overrun());
            }
        }
        Ok(())
    }

    /// After an overrun: dumps links and addresses and hands them to `out`
    /// as events (addresses as additions), and reports as removed every link
    /// this monitor knew that the dump no longer has. Address removals lost
    /// in the overrun cannot be recovered: a script that cares compares the
    /// dumped addresses with what it had.
    pub fn resync(&mut self, out: &mut dyn FnMut(Event)) -> io::Result<()> {
        let links = dump_links()?;
        let gone: Vec<(u32, String)> = self
            .names
            .v
            .iter()
            .filter(|(i, _)| !links.iter().any(|l| l.index == *i))
            .cloned()
            .collect();
        for (index, ifname) in gone {
            let mut ev = Event::Link(Link {
                index,
                ifname,
                up: false,
                running: false,
                carrier: false,
                operstate: "notpresent",
                mtu: 0,
                mac: None,
                promiscuous: false,
                removed: true,
            });
            self.names.apply(&mut ev);
            out(ev);
        }
        for l in links {
            let mut ev = Event::Link(l);
            self.names.apply(&mut ev);
            out(ev);
        }
        for a in dump_addresses()? {
            out(Event::Address(a));
        }
        Ok(())
    }
}

/// One datagram's length, 0 if it was not from the kernel (port id 0: only
/// the kernel speaks for rtnetlink), None if nothing is queued. A datagram
/// cut short by `buf` is an overrun: the rest of its events are lost.
fn recv_kernel(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match sys::netlink_recv(fd.as_fd(), buf) {
            Ok((_, pid)) if pid != 0 => return Ok(Some(0)),
            Ok((n, _)) if n > buf.len() => {
                eprintln!("upd: netlink: datagram of {} bytes truncated", n);
                return Err(overrun());
            }
            Ok((n, _)) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Dumps `msg_type` on a fresh socket. A dump the kernel marks as
/// interrupted (the table changed meanwhile) is retried a few times, then
/// returned as it is: the monitor will report the change anyway.
fn dump(msg_type: u16) -> io::Result<Vec<Event>> {
    let mut tries = 0;
    loop {
        let mut v = Vec::new();
        let intr = dump_once(msg_type, &mut v)?;
        tries += 1;
        if !intr || tries >= 3 {
            return Ok(v);
        }
    }
}

/// One dump into `out`; true if the kernel flagged it as inconsistent.
fn dump_once(msg_type: u16, out: &mut Vec<Event>) -> io::Result<bool> {
    let fd = sys::netlink_route_socket(0, false)?;
    sys::set_rcvtimeo(fd.as_fd(), DUMP_TIMEOUT_SECS)?;
    // The socket is ours alone; the sequence number only guards against a
    // stray reply, so any fixed value does.
    let seq = 0x7570_6400 | msg_type as u32;
    let mut req = [0u8; 32];
    let len = wire::emit_dump_request(msg_type, seq, &mut req);
    sys::netlink_send_kernel(fd.as_fd(), &req[..len])?;
    let mut buf = vec![0u8; DUMP_BUF];
    let mut intr = false;
    loop {
        let n = match recv_kernel(&fd, &mut buf) {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "netlink dump timed out",
                ))
            }
            Err(e) if is_overrun(&e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "netlink dump datagram truncated",
                ))
            }
            Err(e) => return Err(e),
        };
        intr |= wire::any_flag(&buf[..n], wire::NLM_F_DUMP_INTR);
        let (mut done, mut err) = (false, None);
        wire::parse_datagram(&buf[..n], &mut |s, m| match m {
            _ if s != seq && s != 0 => {}
            Ok(wire::Message::Event(ev)) => out.push(ev),
            Ok(wire::Message::Done) => done = true,
            Ok(_) => {}
            Err(ParseError::Kernel { errno }) => err = Some(errno),
            Err(e) => eprintln!("upd: netlink: dump: skipped: {}", e),
        });
        if let Some(errno) = err {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if done {
            return Ok(intr);
        }
    }
}

/// Every link now.
pub fn dump_links() -> io::Result<Vec<Link>> {
    Ok(dump(wire::RTM_GETLINK)?
        .into_iter()
        .filter_map(|ev| match ev {
            Event::Link(l) => Some(l),
            _ => None,
        })
        .collect())
}

/// Every IPv4 and IPv6 address now (`added` is true), names resolved.
pub fn dump_addresses() -> io::Result<Vec<Address>> {
    let mut names = Names::default();
    Ok(dump(wire::RTM_GETADDR)?
        .into_iter()
        .filter_map(|mut ev| {
            names.apply(&mut ev);
            match ev {
                Event::Address(a) => Some(a),
                _ => None,
            }
        })
        .collect())
}

/// Interface traffic counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Checks an interface name as the kernel's dev_valid_name does, so it is
/// safe as one path component.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IF_NAMESIZE
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|c| c == b'/' || c == b':' || c == 0 || c.is_ascii_whitespace())
}

fn read_counter(dir: &str, name: &str) -> io::Result<u64> {
    let path = format!("{}/{}", dir, name);
    let s = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {}", path, e)))?;
    let s = s.trim_ascii();
    s.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a number: {}", path, s),
        )
    })
}

/// Reads /sys/class/net/IFNAME/statistics/{rx,tx}_{packets,bytes}.
pub fn counters(ifname: &str) -> io::Result<Counters> {
    counters_in("/sys/class/net", ifname)
}

/// `counters` under another sysfs root (for tests).
pub fn counters_in(root: &str, ifname: &str) -> io::Result<Counters> {
    if !valid_ifname(ifname) {
        // Echo the name only if it cannot break the one-line message.
        let shown = if ifname.bytes().all(|c| (0x20..0x7f).contains(&c)) {
            ifname
        } else {
            "?"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "bad interface name \"{}\" (1-15 bytes, no '/', ':' or space)",
                shown
            ),
        ));
    }
    let dir = format!("{}/{}/statistics", root, ifname);
    if !std::path::Path::new(&dir).is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {}", ifname),
        ));
    }
    Ok(Counters {
        rx_packets: read_counter(&dir, "rx_packets")?,
        tx_packets: read_counter(&dir, "tx_packets")?,
        rx_bytes: read_counter(&dir, "rx_bytes")?,
        tx_bytes: read_counter(&dir, "tx_bytes")?,
    })
}

/// "aa:bb:cc:dd:ee:ff"
pub fn mac_to_string(mac: &[u8; 6]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_validation() {
        for ok in ["eth0", "br-lan", "wlan0.1", "a23456789012345"] {
            assert!(valid_ifname(ok), "{}", ok);
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "eth0:1",
            "a b",
            "a234567890123456",
            "x\0",
        ] {
            assert!(!valid_ifname(bad), "{:?}", bad);
        }
    }

    #[test]
    fn counters_from_a_fake_sysfs() {
        let root = std::env::temp_dir().join(format!("upd-counters-{}", std::process::id()));
        let dir = root.join("eth9/statistics");
        std::fs::create_dir_all(&dir).unwrap();
        for (f, v) in [
            ("rx_packets", "1\n"),
            ("tx_packets", "2\n"),
            ("rx_bytes", "300\n"),
            ("tx_bytes", "18446744073709551615\n"),
        ] {
            std::fs::write(dir.join(f), v).unwrap();
        }
        let r = root.to_str().unwrap();
        let c = counters_in(r, "eth9").unwrap();
        assert_eq!(
            c,
            Counters {
                rx_packets: 1,
                tx_packets: 2,
                rx_bytes: 300,
                tx_bytes: u64::MAX
            }
        );
        let e = counters_in(r, "eth8").unwrap_err();
        assert_eq!(e.to_string(), "no interface eth8");
        let e = counters_in(r, "../eth9").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // A name that would break the log line is not echoed.
        let e = counters_in(r, "a\nb").unwrap_err();
        assert!(
            e.to_string().starts_with("bad interface name \"?\""),
            "{}",
            e
        );
        std::fs::write(dir.join("rx_bytes"), "lots\n").unwrap();
        let e = counters_in(r, "eth9").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("eth9/statistics/rx_bytes: not a number: lots"),
            "{}",
            e
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_fill_addresses_and_forget_removed_links() {
        let link = |removed| Link {
            index: 4000,
            ifname: "wan".into(),
            up: true,
            running: true,
            carrier: true,
            operstate: "up",
            mtu: 1500,
            mac: None,
            promiscuous: false,
            removed,
        };
        let addr = |label: &str| {
            Event::Address(Address {
                added: true,
                index: 4000,
                ifname: label.into(),
                address: "10.0.0.1".parse().unwrap(),
                prefix_len: 8,
            })
        };
        let mut n = Names::default();
        n.apply(&mut Event::Link(link(false)));
        let mut a = addr("");
        n.apply(&mut a);
        assert!(matches!(&a, Event::Address(a) if a.ifname == "wan"));
        n.apply(&mut Event::Link(link(true)));
        // Unknown index with no such interface: the label is kept.
        let mut a = addr("lbl");
        n.apply(&mut a);
        assert!(matches!(&a, Event::Address(a) if a.ifname == "lbl"));
    }

    #[test]
    fn mac_format() {
        assert_eq!(
            mac_to_string(&[0x52, 0x54, 0, 0xab, 0xcd, 0xef]),
            "52:54:00:ab:cd:ef"
        );
    }
}
