//! rtnetlink: link and address events. (Interface fixed; bodies being written.)
use std::net::IpAddr;
use std::os::fd::RawFd;

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
    pub ifname: String,
    pub address: IpAddr,
    pub prefix_len: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Link(Link),
    Address(Address),
}

/// A socket subscribed to link and address change notifications.
pub struct Monitor {
    _fd: RawFd,
}

impl Monitor {
    pub fn open() -> std::io::Result<Monitor> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "netlink: not written yet"))
    }
    pub fn fd(&self) -> RawFd {
        self._fd
    }
    /// Reads what is queued without blocking and hands each event to `out`.
    pub fn read_events(&mut self, _out: &mut dyn FnMut(Event)) -> std::io::Result<()> {
        Ok(())
    }
}
