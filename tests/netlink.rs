//! rtnetlink against the real kernel, inside a private network namespace:
//! a veth pair going up and down, addresses coming and going, dumps, and
//! an overrun. Needs root and `ip`; prints SKIP (loudly) otherwise.
//! Also replays a capture of real messages (tests/data/netlink-veth.bin),
//! which needs nothing.
//!
//! Refresh the capture (as root): UPD_NETLINK_CAPTURE=tests/data/netlink-veth.bin
//!   cargo test --test netlink -- --ignored capture
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::Command;
use std::time::{Duration, Instant};
use upd::netlink::{self, Address, Event, Link, Monitor};

mod common;
use common::{cross_endian_netlink, skip};

/// A network namespace that is deleted however the test ends.
struct Netns {
    name: String,
}

impl Netns {
    /// None (after a SKIP line) when the machine does not let us.
    fn new(test: &str) -> Option<Netns> {
        if let Some(why) = cross_endian_netlink() {
            skip(test, why);
            return None;
        }
        if unsafe { libc::geteuid() } != 0 {
            skip(test, "needs root (network namespaces)");
            return None;
        }
        let name = format!("updtest-{}-{}", std::process::id(), test);
        match Command::new("ip").args(["netns", "add", &name]).status() {
            Ok(s) if s.success() => Some(Netns { name }),
            Ok(s) => {
                skip(test, format!("`ip netns add` failed ({s})"));
                None
            }
            Err(e) => {
                skip(test, format!("cannot run ip: {e}"));
                None
            }
        }
    }

    /// Moves the calling thread (only) into the namespace.
    fn enter(&self) {
        let f = File::open(format!("/var/run/netns/{}", self.name)).expect("open netns");
        upd::sys::net::set_netns(f.as_fd()).expect("setns");
    }

    fn ip(&self, args: &str) {
        let mut v = vec!["-n", &self.name];
        v.extend(args.split_whitespace());
        let s = Command::new("ip").args(&v).status().expect("run ip");
        assert!(s.success(), "ip {} failed", args);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Reads until `pred` holds for an event seen since the last call, or panics
/// after 5 s listing what came.
fn wait_for(m: &mut Monitor, what: &str, pred: &dyn Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        m.read_events(&mut |e| seen.push(e)).expect("read_events");
        if let Some(e) = seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {}; got {:?}", what, seen);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn link<'a>(e: &'a Event, name: &str) -> Option<&'a Link> {
    match e {
        Event::Link(l) if l.ifname == name => Some(l),
        _ => None,
    }
}

fn addr<'a>(e: &'a Event, a: &str) -> Option<&'a Address> {
    match e {
        Event::Address(x) if x.address.to_string() == a => Some(x),
        _ => None,
    }
}

/// Runs `f` on a thread inside `ns`, passing panics on.
fn in_netns(ns: &Netns, f: impl FnOnce(&Netns) + Send) {
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            ns.enter();
            f(ns)
        });
        if let Err(p) = h.join() {
            std::panic::resume_unwind(p);
        }
    });
}

#[test]
fn veth_carrier_and_addresses() {
    let Some(ns) = Netns::new("veth_carrier_and_addresses") else {
        return;
    };
    in_netns(&ns, |ns| {
        let mut m = Monitor::open().expect("Monitor::open");
        ns.ip("link add va type veth peer name vb");
        let va = wait_for(&mut m, "va created", &|e| link(e, "va").is_some());
        let va = link(&va, "va").unwrap().clone();
        assert!(
            !va.up && !va.removed && va.mac.is_some() && va.mtu == 1500,
            "{:?}",
            va
        );

        ns.ip("link set vb up");
        ns.ip("link set va up");
        wait_for(&mut m, "va up with carrier", &|e| {
            link(e, "va").is_some_and(|l| l.up && l.carrier && l.running)
        });
        // The peer going down takes va's carrier away, not its admin state.
        ns.ip("link set vb down");
        wait_for(&mut m, "va carrier lost", &|e| {
            link(e, "va").is_some_and(|l| l.up && !l.carrier && l.operstate == "lowerlayerdown")
        });
        ns.ip("link set vb up");
        wait_for(&mut m, "va carrier back", &|e| {
            link(e, "va").is_some_and(|l| l.up && l.carrier && l.operstate == "up")
        });
        ns.ip("link set va down");
        wait_for(&mut m, "va down", &|e| {
            link(e, "va").is_some_and(|l| !l.up && !l.carrier)
        });
        ns.ip("link set va up");

        ns.ip("addr add 10.77.0.1/24 dev va");
        let e = wait_for(&mut m, "10.77.0.1 added", &|e| {
            addr(e, "10.77.0.1").is_some()
        });
        let a = addr(&e, "10.77.0.1").unwrap();
        assert!(
            a.added && a.prefix_len == 24 && a.ifname == "va" && a.index == va.index,
            "{:?}",
            a
        );
        // IPv6 has no label: the name comes from the monitor's index map.
        ns.ip("addr add 2001:db8:77::1/64 dev va nodad");
        let e = wait_for(&mut m, "2001:db8:77::1 added", &|e| {
            addr(e, "2001:db8:77::1").is_some()
        });
        let a = addr(&e, "2001:db8:77::1").unwrap();
        assert!(a.added && a.prefix_len == 64 && a.ifname == "va", "{:?}", a);
        // Point-to-point: our address is IFA_LOCAL, not the peer.
        ns.ip("addr add 10.78.0.1 peer 10.78.0.2 dev vb");
        let e = wait_for(&mut m, "10.78.0.1 added", &|e| {
            addr(e, "10.78.0.1").is_some()
        });
        assert_eq!(addr(&e, "10.78.0.1").unwrap().ifname, "vb");

        let links = netlink::dump_links().expect("dump_links");
        let names: Vec<&str> = links.iter().map(|l| l.ifname.as_str()).collect();
        assert!(
            names.contains(&"lo") && names.contains(&"va") && names.contains(&"vb"),
            "{:?}",
            names
        );
        let addrs = netlink::dump_addresses().expect("dump_addresses");
        assert!(
            addrs
                .iter()
                .any(|a| a.ifname == "va" && a.address.to_string() == "2001:db8:77::1" && a.added),
            "{:?}",
            addrs
        );

        ns.ip("addr del 10.77.0.1/24 dev va");
        let e = wait_for(&mut m, "10.77.0.1 removed", &|e| {
            addr(e, "10.77.0.1").is_some_and(|a| !a.added)
        });
        assert_eq!(addr(&e, "10.77.0.1").unwrap().ifname, "va");

        ns.ip("link del va");
        wait_for(&mut m, "va removed", &|e| {
            link(e, "va").is_some_and(|l| l.removed)
        });
    });
}

/// The Lua side (`upd.core.links`, `addresses`, `counters`) on this
/// machine's own namespace: `lo` is always there.
#[test]
fn lua_bindings_on_the_live_kernel() {
    let lua = mlua::Lua::new();
    let t = lua.create_table().unwrap();
    upd::core::net_api::register(&lua, &t).unwrap();
    lua.globals().set("core", t).unwrap();
    let run = |code: &str| -> String {
        lua.load(code)
            .eval()
            .unwrap_or_else(|e| panic!("{}: {}", code, e))
    };
    assert_eq!(
        run(r#"local c = assert(core.counters("lo"))
               return type(c["rx-packets"]) .. type(c["tx-packets"]) .. type(c["rx-bytes"]) .. type(c["tx-bytes"])"#),
        "numbernumbernumbernumber"
    );
    assert_eq!(
        run(r#"return select(2, core.counters("nosuch0"))"#),
        "counters: no interface nosuch0"
    );
    if let Some(why) = cross_endian_netlink() {
        skip("lua_bindings_on_the_live_kernel (links and addresses)", why);
        return;
    }
    let mtu = std::fs::read_to_string("/sys/class/net/lo/mtu").expect("lo's mtu in sysfs");
    assert_eq!(
        run(r#"for _, l in ipairs(assert(core.links())) do
                 if l.ifname == "lo" then return l.kind .. " " .. tostring(l.up) .. " " .. tostring(l.removed) .. " " .. l.mtu end
               end
               return "no lo""#),
        format!("link true false {}", mtu.trim())
    );
    assert_eq!(
        run(r#"local n = 0
               for _, a in ipairs(assert(core.addresses("lo"))) do
                 assert(a.ifname == "lo", "filter by ifname")
                 if a.address == "127.0.0.1" then n = n + 1; assert(a.family == "inet" and a.length == 8 and a.action == "add") end
               end
               return tostring(n)"#),
        "1"
    );
}

#[test]
fn overrun_is_reported_and_the_socket_keeps_working() {
    let Some(ns) = Netns::new("overrun_is_reported_and_the_socket_keeps_working") else {
        return;
    };
    in_netns(&ns, |ns| {
        ns.ip("link set lo up");
        let mut m = Monitor::open().expect("Monitor::open");
        // SAFETY: the fd belongs to `m`, which outlives this borrow.
        let fd = unsafe { BorrowedFd::borrow_raw(m.fd()) };
        upd::sys::net::set_rcvbuf(fd, 1).expect("SO_RCVBUF");
        ns.ip("link add va type veth peer name vb");
        let batch = std::env::temp_dir().join(format!("upd-overrun-{}", std::process::id()));
        let cmds: String = (1..200)
            .map(|i| format!("addr add 10.79.{}.{}/32 dev va\n", i / 100, i % 100 + 1))
            .collect();
        std::fs::write(&batch, cmds).unwrap();
        ns.ip(&format!("-batch {}", batch.display()));
        let _ = std::fs::remove_file(&batch);
        let r = m.read_events(&mut |_| {});
        match r {
            Err(e) if netlink::is_overrun(&e) => {}
            other => panic!(
                "expected an overrun, got {:?}",
                other.map_err(|e| e.to_string())
            ),
        }
        // Drain what is left, then the monitor still sees new changes.
        let _ = m.read_events(&mut |_| {});
        ns.ip("link set va up");
        wait_for(&mut m, "va up after overrun", &|e| {
            link(e, "va").is_some_and(|l| l.up)
        });
        // A link deleted while we were not listening comes back from resync
        // as removed; what is there comes back as it is.
        upd::sys::net::set_rcvbuf(fd, 1).expect("SO_RCVBUF");
        let cmds: String = (1..200)
            .map(|i| format!("addr add 10.80.{}.{}/32 dev va\n", i / 100, i % 100 + 1))
            .collect();
        std::fs::write(&batch, cmds).unwrap();
        ns.ip(&format!("-batch {}", batch.display()));
        let _ = std::fs::remove_file(&batch);
        ns.ip("link del vb");
        let mut evs = Vec::new();
        let e = m
            .read_events(&mut |e| evs.push(e))
            .expect_err("second overrun");
        assert!(netlink::is_overrun(&e));
        // The deletion notice itself was dropped: the queue was full.
        assert!(
            !evs.iter().any(|e| link(e, "va").is_some_and(|l| l.removed)),
            "{:?}",
            evs
        );
        let mut evs = Vec::new();
        m.resync(&mut |e| evs.push(e)).expect("resync");
        assert!(
            evs.iter().any(|e| link(e, "va").is_some_and(|l| l.removed)),
            "{:?}",
            evs
        );
        assert!(
            evs.iter()
                .any(|e| link(e, "lo").is_some_and(|l| !l.removed && l.up)),
            "{:?}",
            evs
        );
        assert!(
            evs.iter()
                .any(|e| addr(e, "127.0.0.1").is_some_and(|a| a.added && a.ifname == "lo")),
            "{:?}",
            evs
        );
    });
}

fn io_other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Capture format: per datagram a little-endian u32 length, then the bytes
/// exactly as the kernel sent them (native order: this machine's, x86_64).
fn read_capture(path: &str) -> io::Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path)?;
    let mut v = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(io_other(format!("{}: truncated length", path)));
        }
        let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() - 4 < n {
            return Err(io_other(format!("{}: truncated datagram", path)));
        }
        v.push(rest[4..4 + n].to_vec());
        rest = &rest[4 + n..];
    }
    Ok(v)
}

#[test]
fn replay_capture() {
    if cfg!(target_endian = "big") {
        skip(
            "replay_capture",
            "the capture is little-endian (netlink is host order)",
        );
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/netlink-veth.bin");
    let grams = read_capture(path).expect("read capture");
    let mut evs = Vec::new();
    for g in &grams {
        netlink::parse_messages(g, &mut |r| {
            evs.push(r.unwrap_or_else(|e| panic!("{}: {}", path, e)))
        });
    }
    // What the capture scenario did, in order (see `capture` below).
    let mut steps = evs.iter().filter_map(|e| match e {
        Event::Link(l) if l.ifname == "va" => Some(format!(
            "link up={} carrier={} removed={}",
            l.up, l.carrier, l.removed
        )),
        Event::Address(a) if a.address.to_string().starts_with("10.77.") => Some(format!(
            "addr {} {}/{} {}",
            if a.added { "add" } else { "del" },
            a.address,
            a.prefix_len,
            a.ifname
        )),
        Event::Address(a) if a.address.to_string() == "2001:db8:77::1" => Some(format!(
            "addr6 {} ifname={:?}",
            if a.added { "add" } else { "del" },
            a.ifname
        )),
        _ => None,
    });
    let want = [
        "link up=false carrier=false removed=false",
        "link up=true carrier=true removed=false",
        "addr add 10.77.0.1/24 va",
        "addr6 add ifname=\"\"",
        "addr del 10.77.0.1/24 va",
        "link up=false carrier=false removed=false",
    ];
    for (i, w) in want.into_iter().enumerate() {
        // Kernels may send repeats of a state; each wanted step must show up in order.
        loop {
            let Some(s) = steps.next() else {
                panic!("{}: step {} ({}) never came", path, i, w)
            };
            if s == w {
                break;
            }
        }
    }
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Link(l) if l.ifname == "va" && l.removed)),
        "{}: no removal of va",
        path
    );
}

/// Records the scenario `replay_capture` expects. Not a test: run by hand.
#[test]
#[ignore]
fn capture() {
    let Ok(out) = std::env::var("UPD_NETLINK_CAPTURE") else {
        skip("capture", "set UPD_NETLINK_CAPTURE=path");
        return;
    };
    let Some(ns) = Netns::new("capture") else {
        return;
    };
    in_netns(&ns, |ns| {
        let mut m = Monitor::open().expect("Monitor::open");
        let mut file = Vec::new();
        let mut drain = |m: &mut Monitor| {
            std::thread::sleep(Duration::from_millis(200));
            while let Some(g) = m.recv_datagram().expect("recv") {
                file.extend_from_slice(&(g.len() as u32).to_le_bytes());
                file.extend_from_slice(g);
            }
        };
        for cmd in [
            "link add va type veth peer name vb",
            "link set vb up",
            "link set va up",
            "addr add 10.77.0.1/24 dev va",
            "addr add 2001:db8:77::1/64 dev va nodad",
            "addr del 10.77.0.1/24 dev va",
            "link set va down",
            "link del va",
        ] {
            ns.ip(cmd);
            drain(&mut m);
        }
        std::fs::write(&out, &file).expect("write capture");
        eprintln!("capture: {} bytes to {}", file.len(), out);
    });
}
