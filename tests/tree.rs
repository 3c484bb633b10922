//! The state tree on disk: atomic publish, the reader, withdraw, list, and
//! what happens with hostile layouts, killed publishers, concurrent readers
//! and a full disk. Every test works in its own temporary root.
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use upd::tree::{
    self, changed_keys, list, publish, read, read_path, withdraw, Node, PublishOpts, Published,
};

mod common;
use common::{skip, target_command};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory, removed at the end (after unmounting, if `mounted`).
struct Tmp {
    dir: PathBuf,
    mounted: bool,
}

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("upd-tree-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp {
            dir,
            mounted: false,
        }
    }
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount")
                .arg(self.root())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn v(s: &str) -> Node {
    Node::Value(s.as_bytes().to_vec())
}
fn d(entries: Vec<(&str, Node)>) -> Node {
    Node::Dir(
        entries
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
    )
}
fn seq(items: Vec<Node>) -> Node {
    Node::Dir(
        items
            .into_iter()
            .enumerate()
            .map(|(i, n)| ((i + 1).to_string(), n))
            .collect(),
    )
}
const PUBLIC: PublishOpts = PublishOpts { private: false };
const PRIVATE: PublishOpts = PublishOpts { private: true };

fn ino(p: &Path) -> u64 {
    std::fs::symlink_metadata(p).unwrap().ino()
}
fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}
fn link(p: &Path) -> String {
    std::fs::read_link(p)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
/// The entries of `p`, sorted; in a `.<name>/`, not its lock file (always
/// there once published: 0600, checked here).
fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n != "lock" || {
                let m = std::fs::metadata(p.join(n)).unwrap();
                assert_eq!(m.mode() & 0o7777, 0o600, "the lock is its owner's alone");
                false
            }
        })
        .collect();
    v.sort();
    v
}
/// Every path below `p` with its kind and content: to prove nothing changed.
fn fingerprint(p: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.is_dir() {
                out.insert(rel + "/", Vec::new());
                walk(base, &path, out);
            } else if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    std::fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec(),
                );
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(p, p, &mut out);
    out
}

fn eth0() -> Node {
    d(vec![
        ("carrier", v("yes")),
        ("mtu", v("1500")),
        (
            "addresses",
            seq(vec![d(vec![
                ("address", v("10.0.0.1")),
                ("length", v("24")),
            ])]),
        ),
        ("empty", d(vec![])),
    ])
}

#[test]
fn publish_then_read() {
    let t = Tmp::new("basic");
    let root = t.root();
    assert_eq!(
        read(&root, "eth0").unwrap(),
        None,
        "absent root reads as not published"
    );
    assert_eq!(
        publish(&root, "eth0", &eth0(), &PUBLIC).unwrap(),
        Published::New(1)
    );
    assert_eq!(read(&root, "eth0").unwrap(), Some(eth0()));
    assert_eq!(mode(&root), 0o755);
    assert_eq!(link(&root.join("eth0")), ".eth0/1");
    assert_eq!(std::fs::read(root.join("eth0/mtu")).unwrap(), b"1500\n");
    assert_eq!(
        std::fs::read(root.join("eth0/addresses/1/address")).unwrap(),
        b"10.0.0.1\n"
    );
    assert!(root.join("eth0/empty").is_dir());
    assert_eq!(mode(&root.join(".eth0/1/mtu")), 0o644);
    assert_eq!(mode(&root.join(".eth0/1/addresses")), 0o755);
    assert_eq!(mode(&root.join(".eth0")), 0o755);
    assert_eq!(
        read_path(&root, "eth0", &["addresses", "1", "address"]).unwrap(),
        Some(v("10.0.0.1"))
    );
    assert_eq!(read_path(&root, "eth0", &["addresses", "2"]).unwrap(), None);
    assert_eq!(
        read_path(&root, "eth0", &["mtu", "x"]).unwrap(),
        None,
        "through a value"
    );
    assert_eq!(read_path(&root, "nobody", &["x"]).unwrap(), None);
    assert!(read_path(&root, "eth0", &[".."])
        .unwrap_err()
        .to_string()
        .contains("bad key"));
    // One trailing newline is the file format; any other is part of the value.
    let nl = d(vec![
        ("a", v("x\n")),
        ("b", v("")),
        ("c", Node::Value(vec![0, 1, 255])),
    ]);
    publish(&root, "nl", &nl, &PUBLIC).unwrap();
    assert_eq!(std::fs::read(root.join("nl/a")).unwrap(), b"x\n\n");
    assert_eq!(read(&root, "nl").unwrap(), Some(nl));
}

#[test]
fn bad_keys_and_names_change_nothing() {
    let t = Tmp::new("keys");
    let root = t.root();
    publish(&root, "eth0", &eth0(), &PUBLIC).unwrap();
    let before = fingerprint(&root);
    let long = "x".repeat(10_000);
    for (bad, shown) in [
        ("a/b", "\"a/b\""),
        ("..", "\"..\""),
        (".", "\".\""),
        ("a\0b", "\"a\\x00b\""),
        ("", "\"\""),
        (
            long.as_str(),
            "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"",
        ),
        ("sp ace", "\"sp ace\""),
    ] {
        let tree = d(vec![("addresses", seq(vec![d(vec![(bad, v("1"))])]))]);
        let e = publish(&root, "eth0", &tree, &PUBLIC)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("publish eth0: bad key {shown} at addresses/1: ")),
            "{e}"
        );
        assert!(e.len() < 200, "message stays short: {e}");
    }
    for (bad, why) in [
        (".eth0", "may not start with '.'"),
        ("a/b", "'/' not allowed"),
        ("", "empty"),
        ("..", "'.'"),
    ] {
        let e = publish(&root, bad, &eth0(), &PUBLIC)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("publish: bad service name") && e.contains(why),
            "{e}"
        );
        assert!(read(&root, bad).is_err());
        assert!(withdraw(&root, bad).is_err());
    }
    let e = publish(&root, &long, &eth0(), &PUBLIC)
        .unwrap_err()
        .to_string();
    assert!(e.contains("10000 bytes long (max 255)"), "{e}");
    assert!(publish(&root, "eth0", &v("x"), &PUBLIC)
        .unwrap_err()
        .to_string()
        .contains("must be a table"));
    assert_eq!(fingerprint(&root), before, "nothing changed on disk");
    // The longest key is fine.
    let k255 = "k".repeat(255);
    publish(&root, "long", &d(vec![(k255.as_str(), v("1"))]), &PUBLIC).unwrap();
    assert_eq!(read_path(&root, "long", &[&k255]).unwrap(), Some(v("1")));
}

#[test]
fn oversize_value_keeps_the_old_snapshot() {
    let t = Tmp::new("oversize");
    let root = t.root();
    publish(&root, "eth0", &eth0(), &PUBLIC).unwrap();
    let before = fingerprint(&root);
    let big = d(vec![
        ("mtu", v("1")),
        (
            "blob",
            d(vec![("x", Node::Value(vec![b'z'; tree::MAX_VALUE + 1]))]),
        ),
    ]);
    let e = publish(&root, "eth0", &big, &PUBLIC)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "publish eth0: value at blob/x is 65537 bytes (max 65536)"
    );
    assert_eq!(fingerprint(&root), before);
    assert_eq!(read(&root, "eth0").unwrap(), Some(eth0()));
    let fits = d(vec![("blob", Node::Value(vec![b'z'; tree::MAX_VALUE]))]);
    publish(&root, "eth0", &fits, &PUBLIC).unwrap();
    assert_eq!(read(&root, "eth0").unwrap(), Some(fits));
}

#[test]
fn unchanged_values_keep_their_inode() {
    let t = Tmp::new("inode");
    let root = t.root();
    publish(&root, "eth0", &eth0(), &PUBLIC).unwrap();
    let mtu = ino(&root.join("eth0/mtu"));
    let addr = ino(&root.join("eth0/addresses/1/address"));
    let carrier = ino(&root.join("eth0/carrier"));
    let mut next = eth0();
    if let Node::Dir(m) = &mut next {
        m.insert("carrier".into(), v("no"));
        m.insert("new".into(), v("1"));
    }
    assert_eq!(
        publish(&root, "eth0", &next, &PUBLIC).unwrap(),
        Published::New(2)
    );
    assert_eq!(link(&root.join("eth0")), ".eth0/2");
    assert_eq!(ino(&root.join("eth0/mtu")), mtu, "same value: hard link");
    assert_eq!(
        ino(&root.join("eth0/addresses/1/address")),
        addr,
        "nested too"
    );
    assert_ne!(
        ino(&root.join("eth0/carrier")),
        carrier,
        "changed value: new file"
    );
    assert_eq!(
        std::fs::symlink_metadata(root.join("eth0/mtu"))
            .unwrap()
            .nlink(),
        2,
        "shared with generation 1"
    );
    // A value of the same length but different bytes is rewritten.
    let mut same_len = next.clone();
    if let Node::Dir(m) = &mut same_len {
        m.insert("mtu".into(), v("1501"));
    }
    publish(&root, "eth0", &same_len, &PUBLIC).unwrap();
    assert_ne!(ino(&root.join("eth0/mtu")), mtu);
    assert_eq!(read(&root, "eth0").unwrap(), Some(same_len.clone()));
    // Old generations go, the one just replaced stays for readers.
    assert_eq!(entries(&root.join(".eth0")), vec!["2", "3"]);
    // Switching to private rewrites every file (modes differ).
    let a = ino(&root.join("eth0/addresses/1/address"));
    publish(&root, "eth0", &same_len, &PRIVATE).unwrap();
    assert_ne!(ino(&root.join("eth0/addresses/1/address")), a);
}

#[test]
fn value_to_directory_and_back() {
    let t = Tmp::new("kinds");
    let root = t.root();
    let as_file = d(vec![("x", v("1"))]);
    let as_dir = d(vec![("x", d(vec![("y", v("2"))]))]);
    publish(&root, "s", &as_file, &PUBLIC).unwrap();
    let first = read(&root, "s").unwrap().unwrap();
    publish(&root, "s", &as_dir, &PUBLIC).unwrap();
    let second = read(&root, "s").unwrap().unwrap();
    assert_eq!(second, as_dir);
    publish(&root, "s", &as_file, &PUBLIC).unwrap();
    assert_eq!(read(&root, "s").unwrap(), Some(as_file));
    assert_eq!(changed_keys(Some(&first), Some(&second)), vec!["x", "x/y"]);
    publish(&root, "s", &d(vec![]), &PUBLIC).unwrap();
    assert_eq!(
        read(&root, "s").unwrap(),
        Some(d(vec![])),
        "empty table: empty directory"
    );
}

#[test]
fn sequences_and_changed_keys() {
    let t = Tmp::new("seq");
    let root = t.root();
    let dns = |xs: &[&str]| d(vec![("rdnss", seq(xs.iter().map(|x| v(x)).collect()))]);
    publish(
        &root,
        "dhcp",
        &dns(&["2001:db8::1", "2001:db8::2"]),
        &PUBLIC,
    )
    .unwrap();
    assert_eq!(entries(&root.join("dhcp/rdnss")), vec!["1", "2"]);
    let a = read(&root, "dhcp").unwrap();
    publish(&root, "dhcp", &dns(&["2001:db8::1"]), &PUBLIC).unwrap();
    let b = read(&root, "dhcp").unwrap();
    assert_eq!(changed_keys(a.as_ref(), b.as_ref()), vec!["rdnss/2"]);
    assert_eq!(changed_keys(b.as_ref(), None), vec!["rdnss/1"]);
}

#[test]
fn private_modes() {
    let t = Tmp::new("private");
    let root = t.root();
    publish(&root, "keys", &eth0(), &PRIVATE).unwrap();
    assert_eq!(mode(&root.join(".keys")), 0o700);
    assert_eq!(mode(&root.join(".keys/1")), 0o700);
    assert_eq!(mode(&root.join(".keys/1/addresses/1")), 0o700);
    assert_eq!(mode(&root.join(".keys/1/mtu")), 0o600);
    assert_eq!(mode(&root.join(".keys/1/addresses/1/address")), 0o600);
    publish(&root, "keys", &eth0(), &PUBLIC).unwrap();
    assert_eq!(mode(&root.join(".keys")), 0o755);
    assert_eq!(mode(&root.join(".keys/2/mtu")), 0o644);
    assert_eq!(mode(&root.join(".keys/2/addresses")), 0o755);
}

#[test]
fn generations_and_leftovers() {
    let t = Tmp::new("gens");
    let root = t.root();
    publish(&root, "s", &d(vec![("n", v("1"))]), &PUBLIC).unwrap();
    // What a publisher killed at various points leaves behind:
    std::fs::create_dir_all(root.join(".s/7.tmp/deep/er")).unwrap();
    std::fs::write(root.join(".s/7.tmp/deep/er/f"), b"x").unwrap();
    std::os::unix::fs::symlink(".s/7", root.join(".s/link.tmp")).unwrap();
    std::fs::create_dir_all(root.join(".s/50/a")).unwrap(); // complete but never linked
    assert_eq!(
        read(&root, "s").unwrap(),
        Some(d(vec![("n", v("1"))])),
        "leftovers do not disturb readers"
    );
    assert_eq!(
        publish(&root, "s", &d(vec![("n", v("2"))]), &PUBLIC).unwrap(),
        Published::New(51)
    );
    assert_eq!(entries(&root.join(".s")), vec!["1", "51"]);
    assert_eq!(
        publish(&root, "s", &d(vec![("n", v("3"))]), &PUBLIC).unwrap(),
        Published::New(52)
    );
    assert_eq!(entries(&root.join(".s")), vec!["51", "52"]);
    assert_eq!(read(&root, "s").unwrap(), Some(d(vec![("n", v("3"))])));
}

#[test]
fn withdraw_and_list() {
    let t = Tmp::new("list");
    let root = t.root();
    assert_eq!(list(&root).unwrap(), Vec::<String>::new());
    assert!(!withdraw(&root, "nobody").unwrap());
    for name in ["wan", "eth0", "lan"] {
        publish(&root, name, &eth0(), &PUBLIC).unwrap();
    }
    // Junk in the root is not a service.
    std::fs::write(root.join("file"), b"x").unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("planted")).unwrap();
    std::os::unix::fs::symlink(".eth0/1", root.join("alias")).unwrap();
    assert_eq!(list(&root).unwrap(), vec!["eth0", "lan", "wan"]);
    assert!(withdraw(&root, "lan").unwrap());
    assert!(!root.join("lan").exists() && !root.join(".lan").exists());
    assert_eq!(read(&root, "lan").unwrap(), None);
    assert_eq!(list(&root).unwrap(), vec!["eth0", "wan"]);
    assert!(!withdraw(&root, "lan").unwrap(), "twice is fine");
    publish(&root, "lan", &eth0(), &PUBLIC).unwrap();
    assert_eq!(
        read(&root, "lan").unwrap(),
        Some(eth0()),
        "publish after withdraw"
    );
}

#[test]
fn planted_symlinks_are_never_followed() {
    let t = Tmp::new("planted");
    let root = t.root();
    let outside = t.dir.join("outside");
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("secret"), b"do not touch\n").unwrap();
    std::fs::write(outside.join("sub/x"), b"1\n").unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let outside_before = fingerprint(&outside);
    let etc_before = entries(Path::new("/etc"));

    // $UPD_ROOT/x -> /etc and $UPD_ROOT/y -> the decoy.
    std::os::unix::fs::symlink("/etc", root.join("x")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("y")).unwrap();
    for name in ["x", "y"] {
        let e = publish(&root, name, &d(vec![("passwd", v("pwned"))]), &PUBLIC).unwrap_err();
        assert!(matches!(e, tree::TreeError::Refused { .. }), "{e}");
        let e = e.to_string();
        assert!(
            e.contains(&format!("refusing {}/{name}: a symlink to", root.display())),
            "{e}"
        );
        let e = read(&root, name).unwrap_err().to_string();
        assert!(e.contains("not to ."), "{e}");
        assert!(withdraw(&root, name).is_err());
    }
    assert!(
        !root.join(".x").exists(),
        "refused before creating anything"
    );
    // .z is a symlink to the decoy: publishing z must not write through it.
    std::os::unix::fs::symlink(&outside, root.join(".z")).unwrap();
    let e = publish(&root, "z", &d(vec![("a", v("1"))]), &PUBLIC).unwrap_err();
    assert!(matches!(e, tree::TreeError::Refused { .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("refusing") && e.contains(".z"), "{e}");
    assert!(withdraw(&root, "z").is_err());
    // A symlink of the right form whose generation is a symlink to the decoy.
    std::fs::create_dir(root.join(".w")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join(".w/1")).unwrap();
    std::os::unix::fs::symlink(".w/1", root.join("w")).unwrap();
    assert!(read(&root, "w").is_err());
    assert!(read_path(&root, "w", &["secret"]).is_err());
    // A real directory where the symlink belongs.
    std::fs::create_dir(root.join("v")).unwrap();
    let e = publish(&root, "v", &d(vec![("a", v("1"))]), &PUBLIC).unwrap_err();
    assert!(matches!(e, tree::TreeError::Refused { .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("not a symlink made by upd"), "{e}");
    assert!(read(&root, "v").is_err());

    // Inside a generation: a value and a directory replaced by symlinks.
    publish(
        &root,
        "s",
        &d(vec![("secret", v("mine")), ("sub", d(vec![("x", v("1"))]))]),
        &PUBLIC,
    )
    .unwrap();
    let g = root.join(".s/1");
    std::fs::remove_file(g.join("secret")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), g.join("secret")).unwrap();
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("refusing the symlink at secret"), "{e}");
    assert!(read_path(&root, "s", &["secret"]).is_err());
    std::fs::remove_dir_all(g.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.join("sub"), g.join("sub")).unwrap();
    assert!(read_path(&root, "s", &["sub", "x"]).is_err());
    // Publishing over it compares against the old generation without following.
    publish(
        &root,
        "s",
        &d(vec![
            ("secret", v("do not touch")),
            ("sub", d(vec![("x", v("1"))])),
        ]),
        &PUBLIC,
    )
    .unwrap();
    assert_ne!(
        ino(&root.join("s/secret")),
        ino(&outside.join("secret")),
        "not linked to the decoy"
    );
    assert_ne!(ino(&root.join("s/sub/x")), ino(&outside.join("sub/x")));
    // A third publish deletes generation 1 (with its symlinks), a withdraw all.
    publish(&root, "s", &d(vec![]), &PUBLIC).unwrap();
    assert!(!g.exists());
    std::os::unix::fs::symlink(&outside, root.join(".s/2/evil")).unwrap();
    assert!(withdraw(&root, "s").unwrap());
    assert!(!root.join(".s").exists());

    assert_eq!(
        fingerprint(&outside),
        outside_before,
        "nothing outside the root changed"
    );
    assert_eq!(entries(Path::new("/etc")), etc_before);
    assert_eq!(link(&root.join("x")), "/etc");
}

#[test]
fn reader_bounds() {
    let t = Tmp::new("bounds");
    let root = t.root();
    publish(&root, "s", &d(vec![]), &PUBLIC).unwrap();
    let g = root.join(".s/1");
    for i in 0..tree::MAX_ENTRIES + 1 {
        std::fs::write(g.join(i.to_string()), b"x\n").unwrap();
    }
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("more than 4096 entries"), "{e}");
    publish(&root, "s", &d(vec![]), &PUBLIC).unwrap();
    let g = root.join(".s/2");
    std::fs::write(g.join("big"), vec![b'x'; tree::MAX_VALUE + 2]).unwrap();
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("value at big is larger than 65536 bytes"), "{e}");
    std::fs::remove_file(g.join("big")).unwrap();
    std::fs::write(g.join("bad name"), b"x\n").unwrap();
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("unexpected entry \"bad name\""), "{e}");
    std::fs::remove_file(g.join("bad name")).unwrap();
    let fifo = std::ffi::CString::new(g.join("fifo").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("refusing fifo"), "{e}");
    std::fs::remove_file(g.join("fifo")).unwrap();
    let mut deep = g.clone();
    for _ in 0..tree::MAX_DEPTH + 1 {
        deep = deep.join("a");
    }
    std::fs::create_dir_all(&deep).unwrap();
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("nested deeper than 32"), "{e}");
    // Dangling: the link names a generation that is gone.
    std::fs::remove_dir_all(&g).unwrap();
    let e = read(&root, "s").unwrap_err().to_string();
    assert!(e.contains("points to .s/2, which does not exist"), "{e}");
}

/// A tree whose every value is `n`: a reader seeing two different values saw a mix.
fn stamped(n: u64, width: usize) -> Node {
    let s = n.to_string();
    let leaves = |k: usize| Node::Dir((0..k).map(|i| (format!("k{i}"), v(&s))).collect());
    // The shape changes with `n` too: keys come and go, a value becomes a directory.
    let mut top: BTreeMap<String, Node> =
        (0..width).map(|i| (format!("d{i}"), leaves(4))).collect();
    top.insert("counter".into(), v(&s));
    top.insert(
        "shape".into(),
        if n.is_multiple_of(2) {
            v(&s)
        } else {
            d(vec![("odd", v(&s))])
        },
    );
    if n.is_multiple_of(3) {
        top.insert("third".into(), leaves(3));
    }
    Node::Dir(top)
}

/// The one counter every value of a snapshot carries, or a panic.
fn uniform(n: &Node) -> u64 {
    fn walk(n: &Node, seen: &mut Option<Vec<u8>>) {
        match n {
            Node::Value(b) => match seen {
                Some(s) => assert_eq!(s, b, "a snapshot mixing two publishes"),
                None => *seen = Some(b.clone()),
            },
            Node::Dir(m) => m.values().for_each(|c| walk(c, seen)),
        }
    }
    let mut seen = None;
    walk(n, &mut seen);
    let counter: u64 = String::from_utf8(seen.unwrap()).unwrap().parse().unwrap();
    assert_eq!(
        n,
        &stamped(
            counter,
            match n {
                Node::Dir(m) => m.keys().filter(|k| k.starts_with('d')).count(),
                _ => 0,
            }
        ),
        "the snapshot is exactly one that was published"
    );
    counter
}

#[test]
fn concurrent_reader_never_sees_a_mix() {
    let t = Tmp::new("concurrent");
    let root = t.root();
    publish(&root, "s", &stamped(0, 6), &PUBLIC).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                publish(&root, "s", &stamped(n, 6), &PUBLIC).unwrap();
            }
            n
        })
    };
    let (mut last, mut retried_out, mut distinct) = (0, 0, 0);
    for _ in 0..10_000 {
        match read(&root, "s") {
            Ok(Some(snap)) => {
                let n = uniform(&snap);
                assert!(n >= last, "snapshots go forward: {n} after {last}");
                if n != last {
                    distinct += 1;
                }
                last = n;
            }
            Ok(None) => panic!("a published service vanished"),
            // Allowed only as "changed under the reader N times" (never a mix).
            Err(e) => {
                assert!(e.to_string().contains("changed under the reader"), "{e}");
                retried_out += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let published = writer.join().unwrap();
    eprintln!("concurrent: {published} publishes, {distinct} distinct snapshots read, {retried_out} reads gave up");
    assert!(distinct > 10, "the reader saw the tree change");
    assert!(retried_out < 100, "readers rarely starve: {retried_out}");
}

/// Not a test on its own: the publisher that `killed_publisher_leaves_a_consistent_snapshot`
/// runs in a child process (this test binary re-executed) and kills.
#[test]
fn publisher_child() {
    let Some(root) = std::env::var_os("UPD_TREE_TEST_CHILD") else {
        return;
    };
    let root = PathBuf::from(root);
    let mut n = match read(&root, "s") {
        Ok(Some(snap)) => uniform(&snap),
        _ => 0,
    };
    loop {
        n += 1;
        publish(&root, "s", &stamped(n, 30), &PUBLIC).unwrap();
    }
}

fn random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn killed_publisher_leaves_a_consistent_snapshot() {
    let t = Tmp::new("killed");
    let root = t.root();
    let exe = std::env::current_exe().unwrap();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let (mut last, mut interrupted) = (0, 0);
    let rounds = 40;
    for round in 0..rounds {
        let mut child = target_command(&exe)
            .args([
                "--exact",
                "publisher_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("UPD_TREE_TEST_CHILD", &root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill only once it is publishing (startup time varies with load).
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            match read(&root, "s") {
                Ok(Some(snap)) if uniform(&snap) > last => break,
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        std::thread::sleep(Duration::from_micros(random(&mut seed) % 60_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // After a complete publish `.s` holds the current and the previous
        // generation; anything else is a publish (or its cleanup) cut short.
        let left = entries(&root.join(".s"));
        if left.len() > 2 || left.iter().any(|e| !e.bytes().all(|b| b.is_ascii_digit())) {
            interrupted += 1;
        }
        match read(&root, "s").unwrap() {
            Some(snap) => {
                let n = uniform(&snap);
                assert!(n >= last, "round {round}: went back from {last} to {n}");
                last = n;
            }
            None => assert_eq!(last, 0, "round {round}: snapshot lost"),
        }
    }
    assert!(
        last >= rounds as u64,
        "every child published ({last} publishes)"
    );
    assert!(
        interrupted > 0,
        "some kills landed mid-publish (leftovers seen)"
    );
    // The next publish cleans whatever the kills left.
    let g = publish(&root, "s", &stamped(last + 1, 1), &PUBLIC)
        .unwrap()
        .generation();
    let left = entries(&root.join(".s"));
    assert!(left.len() <= 2 && left.contains(&g.to_string()), "{left:?}");
    assert!(
        left.iter().all(|e| e.bytes().all(|b| b.is_ascii_digit())),
        "{left:?}"
    );
    eprintln!("killed: {rounds} rounds, {last} publishes, {interrupted} kills mid-publish");
}

#[test]
fn disk_full_fails_cleanly() {
    let t = Tmp::new("full");
    let root = t.root();
    std::fs::create_dir_all(&root).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64k,mode=0755",
            "upd-test",
            root.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        skip(
            "disk_full_fails_cleanly",
            "cannot mount a tmpfs (needs root / CAP_SYS_ADMIN)",
        );
        return;
    }
    let mut t = t;
    t.mounted = true;
    let small = d(vec![("a", v("1")), ("b", d(vec![("c", v("2"))]))]);
    publish(&root, "s", &small, &PUBLIC).unwrap();
    let before = fingerprint(&root);
    // Three 60 KiB values do not fit in 64 KiB.
    let big = Node::Dir(
        (0..3)
            .map(|i| (i.to_string(), Node::Value(vec![b'x'; 60 * 1024])))
            .collect(),
    );
    let e = publish(&root, "s", &big, &PUBLIC).unwrap_err().to_string();
    assert!(
        e.starts_with("publish s: cannot write ") && e.contains("No space left on device"),
        "{e}"
    );
    assert_eq!(
        fingerprint(&root),
        before,
        "old snapshot intact, staging removed"
    );
    assert_eq!(read(&root, "s").unwrap(), Some(small.clone()));
    // Fill the disk with something else, then free it.
    let filler = root.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = [b'f'; 4096];
        while f.write_all(&chunk).is_ok() {}
    }
    let changed = d(vec![("a", v("3")), ("b", d(vec![("c", v("4"))]))]);
    let e = publish(&root, "s", &changed, &PUBLIC)
        .unwrap_err()
        .to_string();
    assert!(e.contains("No space left on device"), "{e}");
    assert_eq!(read(&root, "s").unwrap(), Some(small));
    std::fs::remove_file(&filler).unwrap();
    publish(&root, "s", &changed, &PUBLIC).unwrap();
    assert_eq!(read(&root, "s").unwrap(), Some(changed));
}

#[test]
fn write_file_is_atomic_and_exact() {
    let t = Tmp::new("writefile");
    let p = t.dir.join("out");
    upd::sys::fs::write_file(&p, b"one", 0o600).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"one");
    assert_eq!(mode(&p), 0o600);
    let i = ino(&p);
    upd::sys::fs::write_file(&p, b"two", 0o644).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert_eq!(mode(&p), 0o644);
    assert_ne!(ino(&p), i, "replaced by rename, not rewritten in place");
    assert_eq!(entries(&t.dir), vec!["out"], "no temporary file left");
    let e = upd::sys::fs::write_file(&t.dir.join("no/such/dir"), b"x", 0o644)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot open the directory: "), "{e}");
}

/// `cargo test --release --test tree -- --ignored --nocapture bench`: rough costs.
#[test]
#[ignore]
fn bench_publish_and_read() {
    let t = Tmp::new("bench");
    let root = t.root();
    for (label, width) in [("small (13 values)", 2), ("big (253 values)", 60)] {
        let n = 200;
        let start = std::time::Instant::now();
        for i in 0..n {
            publish(&root, "s", &stamped(i, width), &PUBLIC).unwrap();
        }
        let p = start.elapsed() / n as u32;
        let same = stamped(7, width);
        let start = std::time::Instant::now();
        for _ in 0..n {
            publish(&root, "s", &same, &PUBLIC).unwrap();
        }
        let unchanged = start.elapsed() / n as u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            read(&root, "s").unwrap().unwrap();
        }
        let r = start.elapsed() / n as u32;
        eprintln!(
            "{label}: publish (all changed) {p:?}, publish (unchanged) {unchanged:?}, read {r:?}"
        );
    }
}
