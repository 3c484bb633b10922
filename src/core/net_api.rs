//! Lua bindings for netlink (docs/api.md "Network interfaces"): `links`,
//! `addresses`, `counters`, and the table shape of a netlink event.
//! Failures come back as `nil, msg`: a script decides, nothing exits.
use crate::core::{add, nil_msg, ok};
use crate::netlink::{self, Address, Event, Link};
use mlua::{Lua, MultiValue, Result, Table, Value};

/// Adds this layer's functions to `upd.core`.
pub fn register(lua: &Lua, t: &Table) -> Result<()> {
    add(
        lua,
        t,
        &[
            ("links", binding!(links)),
            ("addresses", binding!(addresses)),
            ("counters", binding!(counters)),
        ],
    )
}

fn links(lua: &Lua, _: Option<String>) -> Result<MultiValue> {
    let v = match netlink::dump_links() {
        Ok(v) => v,
        Err(e) => return fail(lua, "links", e),
    };
    let seq = lua.create_table_with_capacity(v.len(), 0)?;
    for l in &v {
        seq.raw_push(link_to_lua(lua, l)?)?;
    }
    ok(Value::Table(seq))
}

fn addresses(lua: &Lua, ifname: Option<String>) -> Result<MultiValue> {
    let v = match netlink::dump_addresses() {
        Ok(v) => v,
        Err(e) => return fail(lua, "addresses", e),
    };
    let seq = lua.create_table()?;
    for a in v
        .iter()
        .filter(|a| ifname.as_deref().is_none_or(|n| a.ifname == n))
    {
        seq.raw_push(address_to_lua(lua, a)?)?;
    }
    ok(Value::Table(seq))
}

fn counters(lua: &Lua, ifname: Option<String>) -> Result<MultiValue> {
    let c = match netlink::counters(ifname.as_deref().unwrap_or("")) {
        Ok(c) => c,
        Err(e) => return fail(lua, "counters", e),
    };
    // Lua 5.1 numbers are doubles: exact up to 2^53 bytes.
    ok(Value::Table(table(
        lua,
        &[
            ("rx-packets", V::N(c.rx_packets as f64)),
            ("tx-packets", V::N(c.tx_packets as f64)),
            ("rx-bytes", V::N(c.rx_bytes as f64)),
            ("tx-bytes", V::N(c.tx_bytes as f64)),
        ],
    )?))
}

fn fail(lua: &Lua, what: &str, e: std::io::Error) -> Result<MultiValue> {
    nil_msg(lua, &format!("{}: {}", what, e))
}

/// A field value. Tables are built from arrays of these by one non-generic
/// function: each `raw_set::<K, V>` instantiation or inlined call site costs
/// bytes in the router binary.
enum V<'a> {
    S(&'a str),
    I(u32),
    B(bool),
    N(f64),
}

#[inline(never)]
fn table(lua: &Lua, fields: &[(&str, V)]) -> Result<Table> {
    let t = lua.create_table_with_capacity(0, fields.len())?;
    for (k, v) in fields {
        let v = match *v {
            V::S(s) => Value::String(lua.create_string(s)?),
            V::I(i) => Value::Integer(i as mlua::Integer),
            V::B(b) => Value::Boolean(b),
            V::N(n) => Value::Number(n),
        };
        t.raw_set(*k, v)?;
    }
    Ok(t)
}

fn link_to_lua(lua: &Lua, l: &Link) -> Result<Table> {
    let mac = l.mac.as_ref().map(netlink::mac_to_string);
    let fields = [
        ("kind", V::S("link")),
        ("ifname", V::S(&l.ifname)),
        ("index", V::I(l.index)),
        ("up", V::B(l.up)),
        ("running", V::B(l.running)),
        ("carrier", V::B(l.carrier)),
        ("operstate", V::S(l.operstate)),
        ("mtu", V::I(l.mtu)),
        ("promiscuous", V::B(l.promiscuous)),
        ("removed", V::B(l.removed)),
        ("mac", V::S(mac.as_deref().unwrap_or(""))),
    ];
    // No hardware address (ppp, tun): no `mac` key at all.
    let n = if mac.is_some() {
        fields.len()
    } else {
        fields.len() - 1
    };
    table(lua, &fields[..n])
}

fn address_to_lua(lua: &Lua, a: &Address) -> Result<Table> {
    table(
        lua,
        &[
            ("kind", V::S("address")),
            ("action", V::S(if a.added { "add" } else { "remove" })),
            ("ifname", V::S(&a.ifname)),
            ("index", V::I(a.index)),
            (
                "family",
                V::S(if a.address.is_ipv4() { "inet" } else { "inet6" }),
            ),
            ("address", V::S(&a.address.to_string())),
            ("length", V::I(a.prefix_len as u32)),
        ],
    )
}

/// A netlink event as the Lua table docs/api.md describes.
pub fn event_to_lua(lua: &Lua, ev: &crate::netlink::Event) -> Result<Table> {
    match ev {
        Event::Link(l) => link_to_lua(lua, l),
        Event::Address(a) => address_to_lua(lua, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_tables() {
        let lua = Lua::new();
        let link = Event::Link(Link {
            index: 2,
            ifname: "eth0".into(),
            up: true,
            running: false,
            carrier: true,
            operstate: "lowerlayerdown",
            mtu: 1492,
            mac: Some([0x52, 0x54, 0, 1, 2, 0xff]),
            promiscuous: false,
            removed: false,
        });
        lua.globals()
            .set("l", event_to_lua(&lua, &link).unwrap())
            .unwrap();
        let addr = Event::Address(Address {
            added: false,
            index: 3,
            ifname: "wan".into(),
            address: "2001:db8::7".parse().unwrap(),
            prefix_len: 64,
        });
        lua.globals()
            .set("a", event_to_lua(&lua, &addr).unwrap())
            .unwrap();
        let s: String = lua
            .load(
                r#"return table.concat({l.kind, l.ifname, l.index, tostring(l.up),
                    tostring(l.running), tostring(l.carrier), l.operstate, l.mtu, l.mac,
                    tostring(l.promiscuous), tostring(l.removed),
                    a.kind, a.action, a.ifname, a.index, a.family, a.address, a.length}, " ")"#,
            )
            .eval()
            .unwrap();
        assert_eq!(
            s,
            "link eth0 2 true false true lowerlayerdown 1492 52:54:00:01:02:ff false false \
             address remove wan 3 inet6 2001:db8::7 64"
        );
        let Event::Link(mut l) = link else {
            unreachable!()
        };
        l.mac = None;
        lua.globals()
            .set("l", event_to_lua(&lua, &Event::Link(l)).unwrap())
            .unwrap();
        let s: String = lua
            .load("return tostring(l.mac) .. ' ' .. l.ifname")
            .eval()
            .unwrap();
        assert_eq!(s, "nil eth0");
    }

    #[test]
    fn bindings_report_errors_as_nil_msg() {
        let lua = Lua::new();
        let t = lua.create_table().unwrap();
        register(&lua, &t).unwrap();
        lua.globals().set("core", t).unwrap();
        let s: String = lua
            .load(r#"local v, msg = core.counters("../x"); return tostring(v) .. " " .. msg"#)
            .eval()
            .unwrap();
        assert_eq!(
            s,
            "nil counters: bad interface name \"../x\" (1-15 bytes, no '/', ':' or space)"
        );
        let s: String = lua
            .load(r#"return select(2, core.counters())"#)
            .eval()
            .unwrap();
        assert!(s.starts_with("counters: bad interface name \"\""), "{}", s);
        // links/addresses/counters on a live kernel: tests/netlink.rs (under
        // qemu-user on big-endian MIPS the kernel's messages arrive mangled).
    }
}
