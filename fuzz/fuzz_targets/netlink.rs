//! Fuzzes the rtnetlink parser: any bytes must give events or errors, never
//! a panic or a loop, and at most one item per 16-byte header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use upd::netlink::wire;

fuzz_target!(|data: &[u8]| {
    let mut n = 0usize;
    wire::parse_messages(data, &mut |r| {
        n += 1;
        if let Ok(upd::netlink::Event::Link(l)) = r {
            assert!(!l.ifname.is_empty());
        }
    });
    assert!(n <= data.len() / wire::NLMSG_HDR_LEN + 1);
    let mut m = 0usize;
    wire::parse_datagram(data, &mut |_, _| m += 1);
    assert!(m >= n);
    let _ = wire::any_flag(data, wire::NLM_F_DUMP_INTR);
});
