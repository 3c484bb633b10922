//! rtnetlink wire format: bytes -> fields only, no I/O, fuzzable.
//!
//! Two levels, as in smoltcp: checked views (`NlMsg`, `Attrs`) that check
//! lengths once so no accessor can panic, then `parse_*` building the typed
//! `Link`/`Address`. Everything is native-endian (netlink is host order, so
//! MIPS big-endian parses its own kernel's messages with the same code).
use super::{Address, Event, Link};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const NLMSG_HDR_LEN: usize = 16;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_DUMP: u16 = 0x300;
/// Set on dump messages when the table changed during the dump.
pub const NLM_F_DUMP_INTR: u16 = 0x10;

pub const IFINFOMSG_LEN: usize = 16;
pub const IFADDRMSG_LEN: usize = 8;
const RTA_HDR_LEN: usize = 4;
// The top two bits of an attribute type are flags (nested, net byte order).
const NLA_TYPE_MASK: u16 = 0x3fff;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_OPERSTATE: u16 = 16;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;

const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
const IFF_PROMISC: u32 = 0x100;
const IFF_LOWER_UP: u32 = 0x10000;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// Why a message (or the rest of a datagram) was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes left than a netlink header.
    TruncatedHeader { left: usize },
    /// nlmsg_len below the header size or past the end of the datagram.
    BadLength { len: u32, left: usize },
    /// The fixed part (ifinfomsg/ifaddrmsg) does not fit in the message.
    TruncatedBody { msg_type: u16 },
    /// An attribute header or its payload runs past the message.
    TruncatedAttr { msg_type: u16 },
    /// A known attribute with the wrong size (e.g. a 3-byte IPv4 address).
    BadAttr { msg_type: u16, attr: u16 },
    /// A required attribute is missing (e.g. no IFLA_IFNAME).
    MissingAttr { msg_type: u16, attr: u16 },
    /// NLMSG_ERROR carrying a non-zero errno (positive here).
    Kernel { errno: i32 },
    /// NLMSG_OVERRUN: the kernel says data was lost.
    Overrun,
}

// u16 fields are shown as u32: u16's Display would be one more formatter in
// the router binary.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            ParseError::TruncatedHeader { left } => {
                write!(f, "truncated message header ({} bytes left)", left)
            }
            ParseError::BadLength { len, left } => {
                write!(f, "bad nlmsg_len {} ({} bytes left)", len, left)
            }
            ParseError::TruncatedBody { msg_type } => {
                write!(f, "message type {}: body truncated", msg_type as u32)
            }
            ParseError::TruncatedAttr { msg_type } => {
                write!(f, "message type {}: attribute truncated", msg_type as u32)
            }
            ParseError::BadAttr { msg_type, attr } => {
                write!(
                    f,
                    "message type {}: attribute {} has a bad size",
                    msg_type as u32, attr as u32
                )
            }
            ParseError::MissingAttr { msg_type, attr } => {
                write!(
                    f,
                    "message type {}: attribute {} missing",
                    msg_type as u32, attr as u32
                )
            }
            ParseError::Kernel { errno } => write!(
                f,
                "kernel error: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
            ParseError::Overrun => f.write_str("kernel reported an overrun"),
        }
    }
}

/// One item of a datagram, as the dump code needs it; `parse_messages`
/// narrows this to events.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Event(Event),
    /// NLMSG_DONE: the end of a dump.
    Done,
    /// NLMSG_ERROR with errno 0 (an acknowledgement) or NLMSG_NOOP.
    Ack,
    /// A type we do not handle.
    Ignored(u16),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A checked view of one netlink message: `len()` is within the buffer and
/// at least a header long.
pub struct NlMsg<'a> {
    buf: &'a [u8],
}

impl<'a> NlMsg<'a> {
    /// Checks the header at the start of `buf`; on success also returns the
    /// offset of the next message (which may be past the end: then stop).
    pub fn new_checked(buf: &'a [u8]) -> Result<(NlMsg<'a>, usize), ParseError> {
        if buf.len() < NLMSG_HDR_LEN {
            return Err(ParseError::TruncatedHeader { left: buf.len() });
        }
        let len = u32_at(buf, 0);
        if (len as usize) < NLMSG_HDR_LEN || len as usize > buf.len() {
            return Err(ParseError::BadLength {
                len,
                left: buf.len(),
            });
        }
        let len = len as usize;
        Ok((NlMsg { buf: &buf[..len] }, align4(len)))
    }
    pub fn msg_type(&self) -> u16 {
        u16_at(self.buf, 4)
    }
    pub fn flags(&self) -> u16 {
        u16_at(self.buf, 6)
    }
    pub fn seq(&self) -> u32 {
        u32_at(self.buf, 8)
    }
    pub fn pid(&self) -> u32 {
        u32_at(self.buf, 12)
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[NLMSG_HDR_LEN..]
    }
}

/// Iterates the rtattrs in `buf` (4-aligned). A truncated attribute yields
/// one error and ends the iteration.
pub struct Attrs<'a> {
    buf: &'a [u8],
    msg_type: u16,
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let err = ParseError::TruncatedAttr {
            msg_type: self.msg_type,
        };
        if self.buf.len() < RTA_HDR_LEN {
            self.buf = &[];
            return Some(Err(err));
        }
        let len = u16_at(self.buf, 0) as usize;
        let kind = u16_at(self.buf, 2) & NLA_TYPE_MASK;
        // A zero (or sub-header) length would never advance: stop here.
        if len < RTA_HDR_LEN || len > self.buf.len() {
            self.buf = &[];
            return Some(Err(err));
        }
        let value = &self.buf[RTA_HDR_LEN..len];
        let next = align4(len).min(self.buf.len());
        self.buf = &self.buf[next..];
        Some(Ok((kind, value)))
    }
}

fn attrs(buf: &[u8], msg_type: u16) -> Attrs<'_> {
    Attrs { buf, msg_type }
}

/// IFLA_OPERSTATE values (RFC 2863) as `ip link` and sysfs name them.
pub fn operstate_name(v: u8) -> &'static str {
    match v {
        1 => "notpresent",
        2 => "down",
        3 => "lowerlayerdown",
        4 => "testing",
        5 => "dormant",
        6 => "up",
        _ => "unknown",
    }
}

/// A NUL-terminated (or not) string attribute; invalid UTF-8 is replaced
/// rather than rejected: a name is still useful to log.
fn attr_str(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// RTM_NEWLINK/RTM_DELLINK payload (ifinfomsg + attributes).
pub fn parse_link(msg_type: u16, p: &[u8]) -> Result<Link, ParseError> {
    if p.len() < IFINFOMSG_LEN {
        return Err(ParseError::TruncatedBody { msg_type });
    }
    let index = u32_at(p, 4);
    let flags = u32_at(p, 8);
    let mut link = Link {
        index,
        ifname: String::new(),
        up: flags & IFF_UP != 0,
        running: flags & IFF_RUNNING != 0,
        carrier: flags & IFF_LOWER_UP != 0,
        operstate: "unknown",
        mtu: 0,
        mac: None,
        promiscuous: flags & IFF_PROMISC != 0,
        removed: msg_type == RTM_DELLINK,
    };
    let mut have_name = false;
    for a in attrs(&p[IFINFOMSG_LEN..], msg_type) {
        let (kind, v) = a?;
        let bad = ParseError::BadAttr {
            msg_type,
            attr: kind,
        };
        match kind {
            IFLA_IFNAME => {
                link.ifname = attr_str(v);
                have_name = !link.ifname.is_empty();
            }
            IFLA_MTU => {
                if v.len() < 4 {
                    return Err(bad);
                }
                link.mtu = u32_at(v, 0);
            }
            IFLA_OPERSTATE => {
                let Some(&s) = v.first() else { return Err(bad) };
                link.operstate = operstate_name(s);
            }
            // Only Ethernet-like 6-byte addresses are a "mac"; tunnels carry
            // 4 or 16 bytes, ppp none: those are not errors.
            IFLA_ADDRESS if v.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(v);
                link.mac = Some(mac);
            }
            _ => {}
        }
    }
    if !have_name {
        return Err(ParseError::MissingAttr {
            msg_type,
            attr: IFLA_IFNAME,
        });
    }
    Ok(link)
}

fn ip_from(family: u8, v: &[u8]) -> Option<IpAddr> {
    match (family, v.len()) {
        (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        (AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// RTM_NEWADDR/RTM_DELADDR payload (ifaddrmsg + attributes). Families other
/// than inet/inet6 give `Ok(None)`. `ifname` is the IFA_LABEL up to any
/// ':' alias suffix, or empty (IPv6 has no label): the monitor fills it in
/// from the index.
pub fn parse_address(msg_type: u16, p: &[u8]) -> Result<Option<Address>, ParseError> {
    if p.len() < IFADDRMSG_LEN {
        return Err(ParseError::TruncatedBody { msg_type });
    }
    let family = p[0];
    let prefix_len = p[1];
    let index = u32_at(p, 4);
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let (mut address, mut local, mut label) = (None, None, String::new());
    for a in attrs(&p[IFADDRMSG_LEN..], msg_type) {
        let (kind, v) = a?;
        let bad = ParseError::BadAttr {
            msg_type,
            attr: kind,
        };
        match kind {
            IFA_ADDRESS => address = Some(ip_from(family, v).ok_or(bad)?),
            IFA_LOCAL => local = Some(ip_from(family, v).ok_or(bad)?),
            IFA_LABEL => label = attr_str(v),
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer and IFA_LOCAL ours;
    // otherwise both are the same (or only IFA_ADDRESS is there).
    let Some(address) = local.or(address) else {
        return Err(ParseError::MissingAttr {
            msg_type,
            attr: IFA_ADDRESS,
        });
    };
    if let Some(colon) = label.find(':') {
        label.truncate(colon);
    }
    Ok(Some(Address {
        added: msg_type == RTM_NEWADDR,
        index,
        ifname: label,
        address,
        prefix_len,
    }))
}

/// True if any well-formed message header in `buf` has `flag` set.
pub fn any_flag(buf: &[u8], flag: u16) -> bool {
    let mut rest = buf;
    while let Ok((msg, next)) = NlMsg::new_checked(rest) {
        if msg.flags() & flag != 0 {
            return true;
        }
        if next >= rest.len() {
            break;
        }
        rest = &rest[next..];
    }
    false
}

/// Parses one datagram into messages, for callers that need the end of a
/// dump or the sequence number. A message that cannot be parsed yields an
/// error and is skipped; a bad header ends the datagram (its length cannot
/// be trusted to find the next one).
pub fn parse_datagram(buf: &[u8], out: &mut dyn FnMut(u32, Result<Message, ParseError>)) {
    let mut rest = buf;
    while !rest.is_empty() {
        let (msg, next) = match NlMsg::new_checked(rest) {
            Ok(m) => m,
            Err(e) => {
                out(0, Err(e));
                return;
            }
        };
        out(msg.seq(), parse_one(&msg));
        if next >= rest.len() {
            return;
        }
        rest = &rest[next..];
    }
}

fn parse_one(msg: &NlMsg) -> Result<Message, ParseError> {
    let t = msg.msg_type();
    let p = msg.payload();
    match t {
        RTM_NEWLINK | RTM_DELLINK => Ok(Message::Event(Event::Link(parse_link(t, p)?))),
        RTM_NEWADDR | RTM_DELADDR => Ok(match parse_address(t, p)? {
            Some(a) => Message::Event(Event::Address(a)),
            None => Message::Ignored(t),
        }),
        // A dump that failed part-way ends with a negative errno in DONE.
        NLMSG_DONE => match p.get(..4).map(|b| u32_at(b, 0) as i32) {
            Some(e) if e < 0 => Err(ParseError::Kernel {
                errno: e.wrapping_neg(),
            }),
            _ => Ok(Message::Done),
        },
        NLMSG_NOOP => Ok(Message::Ack),
        NLMSG_OVERRUN => Err(ParseError::Overrun),
        NLMSG_ERROR => {
            if p.len() < 4 {
                return Err(ParseError::TruncatedBody { msg_type: t });
            }
            let e = u32_at(p, 0) as i32;
            if e == 0 {
                Ok(Message::Ack)
            } else {
                Err(ParseError::Kernel {
                    errno: e.wrapping_neg(),
                })
            }
        }
        _ => Ok(Message::Ignored(t)),
    }
}

/// Parses a datagram of nlmsghdrs into link and address events; control
/// messages (done, ack, noop) and unknown types are dropped, errors passed on.
pub fn parse_messages(buf: &[u8], out: &mut dyn FnMut(Result<Event, ParseError>)) {
    parse_datagram(buf, &mut |_, m| match m {
        Ok(Message::Event(e)) => out(Ok(e)),
        Ok(_) => {}
        Err(e) => out(Err(e)),
    });
}

/// Writes a dump request (`RTM_GETLINK`/`RTM_GETADDR`, family unspecified)
/// into `buf`; returns its length.
pub fn emit_dump_request(msg_type: u16, seq: u32, buf: &mut [u8; 32]) -> usize {
    let body = if msg_type == RTM_GETADDR {
        IFADDRMSG_LEN
    } else {
        IFINFOMSG_LEN
    };
    let len = NLMSG_HDR_LEN + body;
    buf.fill(0);
    buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    buf[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, v: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(v);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn msg(t: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&t.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn ifinfo(index: u32, flags: u32) -> Vec<u8> {
        let mut b = vec![0u8, 0, 1, 0];
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b
    }

    fn ifaddr(family: u8, plen: u8, index: u32) -> Vec<u8> {
        let mut b = vec![family, plen, 0, 0];
        b.extend_from_slice(&index.to_ne_bytes());
        b
    }

    fn link_body(index: u32, flags: u32, name: &str) -> Vec<u8> {
        let mut b = ifinfo(index, flags);
        b.extend(attr(IFLA_IFNAME, format!("{}\0", name).as_bytes()));
        b.extend(attr(IFLA_MTU, &1500u32.to_ne_bytes()));
        b.extend(attr(IFLA_ADDRESS, &[0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        b.extend(attr(IFLA_OPERSTATE, &[6]));
        b
    }

    fn collect(buf: &[u8]) -> Vec<Result<Event, ParseError>> {
        let mut v = Vec::new();
        parse_messages(buf, &mut |e| v.push(e));
        v
    }

    #[test]
    fn link() {
        let m = msg(
            RTM_NEWLINK,
            &link_body(2, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, "eth0"),
        );
        let v = collect(&m);
        assert_eq!(
            v,
            vec![Ok(Event::Link(Link {
                index: 2,
                ifname: "eth0".into(),
                up: true,
                running: true,
                carrier: true,
                operstate: "up",
                mtu: 1500,
                mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
                promiscuous: false,
                removed: false,
            }))]
        );
    }

    #[test]
    fn dellink_and_flags() {
        let m = msg(RTM_DELLINK, &link_body(3, IFF_PROMISC, "wan"));
        match &collect(&m)[..] {
            [Ok(Event::Link(l))] => {
                assert!(l.removed && l.promiscuous && !l.up && !l.carrier && !l.running);
                assert_eq!(l.ifname, "wan");
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn link_without_name_is_an_error() {
        let m = msg(RTM_NEWLINK, &ifinfo(2, 0));
        assert_eq!(
            collect(&m),
            vec![Err(ParseError::MissingAttr {
                msg_type: RTM_NEWLINK,
                attr: IFLA_IFNAME
            })]
        );
    }

    #[test]
    fn odd_hw_address_is_no_mac() {
        let mut b = ifinfo(5, 0);
        b.extend(attr(IFLA_IFNAME, b"gre0\0"));
        b.extend(attr(IFLA_ADDRESS, &[0, 0, 0, 0]));
        match &collect(&msg(RTM_NEWLINK, &b))[..] {
            [Ok(Event::Link(l))] => assert_eq!(l.mac, None),
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn addr_v4_prefers_local() {
        let mut b = ifaddr(AF_INET, 32, 9);
        b.extend(attr(IFA_ADDRESS, &[10, 64, 0, 1]));
        b.extend(attr(IFA_LOCAL, &[100, 64, 3, 7]));
        b.extend(attr(IFA_LABEL, b"ppp0\0"));
        assert_eq!(
            collect(&msg(RTM_NEWADDR, &b)),
            vec![Ok(Event::Address(Address {
                added: true,
                index: 9,
                ifname: "ppp0".into(),
                address: "100.64.3.7".parse().unwrap(),
                prefix_len: 32,
            }))]
        );
    }

    #[test]
    fn addr_v4_label_alias() {
        let mut b = ifaddr(AF_INET, 24, 2);
        b.extend(attr(IFA_ADDRESS, &[10, 0, 0, 1]));
        b.extend(attr(IFA_LABEL, b"eth0:1\0"));
        match &collect(&msg(RTM_DELADDR, &b))[..] {
            [Ok(Event::Address(a))] => {
                assert_eq!(a.ifname, "eth0");
                assert!(!a.added);
                assert_eq!(a.address, "10.0.0.1".parse::<IpAddr>().unwrap());
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn addr_v6() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut b = ifaddr(AF_INET6, 64, 4);
        b.extend(attr(IFA_ADDRESS, &a.octets()));
        match &collect(&msg(RTM_NEWADDR, &b))[..] {
            [Ok(Event::Address(x))] => {
                assert_eq!(x.address, IpAddr::V6(a));
                assert_eq!((x.prefix_len, x.index, x.ifname.as_str()), (64, 4, ""));
            }
            other => panic!("{:?}", other),
        }
    }

    #[test]
    fn addr_bad_size_and_other_family() {
        let mut b = ifaddr(AF_INET, 24, 2);
        b.extend(attr(IFA_ADDRESS, &[10, 0, 0]));
        assert_eq!(
            collect(&msg(RTM_NEWADDR, &b)),
            vec![Err(ParseError::BadAttr {
                msg_type: RTM_NEWADDR,
                attr: IFA_ADDRESS
            })]
        );
        let mut b = ifaddr(17, 0, 2);
        b.extend(attr(IFA_ADDRESS, &[1, 2]));
        assert_eq!(collect(&msg(RTM_NEWADDR, &b)), vec![]);
    }

    #[test]
    fn several_messages_and_control() {
        let mut d = msg(RTM_NEWLINK, &link_body(1, IFF_UP, "lo"));
        d.extend(msg(NLMSG_NOOP, &[]));
        d.extend(msg(RTM_NEWLINK, &link_body(2, 0, "eth0")));
        d.extend(msg(99, &[1, 2, 3]));
        d.extend(msg(NLMSG_ERROR, &(-19i32).to_ne_bytes()));
        d.extend(msg(NLMSG_DONE, &0u32.to_ne_bytes()));
        assert!(!any_flag(&d, NLM_F_DUMP_INTR));
        let v = collect(&d);
        assert_eq!(v.len(), 3);
        assert!(matches!(&v[0], Ok(Event::Link(l)) if l.ifname == "lo"));
        assert!(matches!(&v[1], Ok(Event::Link(l)) if l.ifname == "eth0"));
        assert_eq!(v[2], Err(ParseError::Kernel { errno: 19 }));
        let mut all = Vec::new();
        parse_datagram(&d, &mut |seq, m| all.push((seq, m)));
        assert_eq!(all.last(), Some(&(7, Ok(Message::Done))));
    }

    #[test]
    fn failed_dump_and_interrupted_dump() {
        let mut all = Vec::new();
        parse_datagram(&msg(NLMSG_DONE, &(-4i32).to_ne_bytes()), &mut |_, m| {
            all.push(m)
        });
        assert_eq!(all, vec![Err(ParseError::Kernel { errno: 4 })]);
        let mut m = msg(RTM_NEWLINK, &link_body(2, 0, "eth0"));
        m[6..8].copy_from_slice(&(0x2 | NLM_F_DUMP_INTR).to_ne_bytes());
        let mut d = msg(RTM_NEWLINK, &link_body(1, 0, "lo"));
        d.extend(m);
        assert!(any_flag(&d, NLM_F_DUMP_INTR));
    }

    #[test]
    fn truncated_header() {
        let m = msg(RTM_NEWLINK, &link_body(2, 0, "eth0"));
        assert_eq!(
            collect(&m[..10]),
            vec![Err(ParseError::TruncatedHeader { left: 10 })]
        );
        // A good message followed by a stub: the good one still comes out.
        let mut d = m.clone();
        d.extend_from_slice(&[1, 2, 3]);
        let v = collect(&d);
        assert!(matches!(v[0], Ok(Event::Link(_))));
        assert_eq!(v[1], Err(ParseError::TruncatedHeader { left: 3 }));
    }

    #[test]
    fn nlmsg_len_past_the_buffer_or_too_small() {
        let mut m = msg(RTM_NEWLINK, &link_body(2, 0, "eth0"));
        let n = m.len();
        m[0..4].copy_from_slice(&(n as u32 + 100).to_ne_bytes());
        assert_eq!(
            collect(&m),
            vec![Err(ParseError::BadLength {
                len: n as u32 + 100,
                left: n
            })]
        );
        // nlmsg_len 0 would loop forever if trusted: it ends the datagram.
        m[0..4].copy_from_slice(&0u32.to_ne_bytes());
        let mut d = m.clone();
        d.extend(msg(RTM_NEWLINK, &link_body(2, 0, "eth0")));
        assert_eq!(
            collect(&d),
            vec![Err(ParseError::BadLength {
                len: 0,
                left: d.len()
            })]
        );
    }

    #[test]
    fn truncated_attribute() {
        let mut b = link_body(2, 0, "eth0");
        // Claims 40 bytes of payload, has 4.
        b.extend_from_slice(&44u16.to_ne_bytes());
        b.extend_from_slice(&IFLA_MTU.to_ne_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        let mut d = msg(RTM_NEWLINK, &b);
        d.extend(msg(RTM_NEWLINK, &link_body(3, 0, "eth1")));
        let v = collect(&d);
        assert_eq!(
            v[0],
            Err(ParseError::TruncatedAttr {
                msg_type: RTM_NEWLINK
            })
        );
        // The next message is still read: only the bad one is skipped.
        assert!(matches!(&v[1], Ok(Event::Link(l)) if l.ifname == "eth1"));
    }

    #[test]
    fn zero_length_attribute() {
        let mut b = ifinfo(2, 0);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend(attr(IFLA_IFNAME, b"eth0\0"));
        assert_eq!(
            collect(&msg(RTM_NEWLINK, &b)),
            vec![Err(ParseError::TruncatedAttr {
                msg_type: RTM_NEWLINK
            })]
        );
        // An empty-valued attribute (len == 4) is fine, but a required
        // 4-byte one that is empty is a bad size.
        let mut b = ifinfo(2, 0);
        b.extend(attr(IFLA_IFNAME, b"eth0\0"));
        b.extend(attr(IFLA_MTU, &[]));
        assert_eq!(
            collect(&msg(RTM_NEWLINK, &b)),
            vec![Err(ParseError::BadAttr {
                msg_type: RTM_NEWLINK,
                attr: IFLA_MTU
            })]
        );
    }

    #[test]
    fn truncated_body() {
        assert_eq!(
            collect(&msg(RTM_NEWADDR, &[2, 24, 0])),
            vec![Err(ParseError::TruncatedBody {
                msg_type: RTM_NEWADDR
            })]
        );
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic sweep standing in for the fuzzer.
        let mut x: u32 = 0x1234_5678;
        let mut buf = [0u8; 256];
        for round in 0..20_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            // Plausible headers now and then so the attribute code runs too.
            if round % 2 == 0 {
                let len = 16 + (x as usize % 240);
                buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
                let t = [RTM_NEWLINK, RTM_NEWADDR, RTM_DELADDR, NLMSG_ERROR][round % 8 / 2];
                buf[4..6].copy_from_slice(&t.to_ne_bytes());
                buf[16] = if round % 4 == 0 { AF_INET } else { AF_INET6 };
            }
            let mut n = 0;
            parse_messages(&buf[..(x as usize % 257)], &mut |_| n += 1);
            assert!(n <= 256 / 16 + 1);
        }
    }

    #[test]
    fn dump_request_shape() {
        let mut b = [0u8; 32];
        let n = emit_dump_request(RTM_GETADDR, 42, &mut b);
        let (m, _) = NlMsg::new_checked(&b[..n]).unwrap();
        assert_eq!(
            (m.msg_type(), m.flags(), m.seq(), m.payload().len()),
            (RTM_GETADDR, 0x301, 42, 8)
        );
    }
}
