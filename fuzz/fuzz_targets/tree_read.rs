//! The reader, list, publish and withdraw over a root the input has
//! scrambled: planted symlinks (to a decoy directory outside the root, to
//! `/etc`, of the right form to a missing generation), FIFOs, oversize
//! files, junk names, leftover staging. Nothing may panic, nothing outside
//! the root may change, and a publish that succeeds reads back exactly.
#![no_main]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use upd::tree::{self, Node, PublishOpts};

const PARTS: &[&str] = &[
    "s", ".s", "1", "2", "3.tmp", "link.tmp", "a", "b", "x y", "t",
];
const KEYS: &[&str] = &["a", "b", "1", "2", "a/b", "..", "k:v", ""];

struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn pick<'b>(&mut self, from: &[&'b str]) -> &'b str {
        from[self.next().unwrap_or(0) as usize % from.len()]
    }
}

fn base() -> PathBuf {
    std::env::temp_dir().join(format!("upd-fuzz-{}", std::process::id()))
}

fn fingerprint(p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(p) else { return };
    for e in rd.flatten() {
        let path = e.path();
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                out.insert(path.clone(), b"/".to_vec());
                fingerprint(&path, out);
            }
            Ok(_) => {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
            Err(_) => {}
        }
    }
}

fn plain_parents(root: &Path, path: &Path) -> bool {
    let mut p = path.parent();
    while let Some(dir) = p {
        if dir == root {
            return true;
        }
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => p = dir.parent(),
            _ => return false,
        }
    }
    false
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn tree_from(b: &mut Bytes, depth: usize) -> Node {
    let n = b.next().unwrap_or(0);
    if depth < 3 && n % 3 == 0 {
        let mut m = BTreeMap::new();
        for _ in 0..(n / 3) % 4 {
            m.insert(b.pick(KEYS).to_string(), tree_from(b, depth + 1));
        }
        Node::Dir(m)
    } else {
        Node::Value(vec![b'v'; (n % 5) as usize])
    }
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let root = base.join("root");
    let outside = base.join("outside");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("secret"), b"x\n").unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let mut before = BTreeMap::new();
    fingerprint(&outside, &mut before);

    let mut b = Bytes(data);
    let opts = PublishOpts { private: false };
    while let Some(op) = b.next() {
        if op == 0xff {
            break; // the rest builds the tree published below
        }
        let depth = 1 + b.next().unwrap_or(0) as usize % 3;
        let mut path = root.clone();
        for _ in 0..depth {
            path.push(b.pick(PARTS));
        }
        // The harness itself must not write through the symlinks it planted
        // (that would change the decoy, or block on a FIFO): its paths run
        // through real directories only, and it never writes into a FIFO.
        if !plain_parents(&root, &path) || (op % 8 == 1 && exists(&path)) {
            continue;
        }
        let _ = match op % 8 {
            0 => std::fs::create_dir(&path),
            1 => std::fs::write(&path, vec![b'z'; b.next().unwrap_or(0) as usize * 300]),
            2 => std::os::unix::fs::symlink(&outside, &path),
            3 => std::os::unix::fs::symlink(format!(".s/{}", b.next().unwrap_or(0) % 4), &path),
            4 => std::os::unix::fs::symlink("/etc", &path),
            5 => {
                let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid C string.
                unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
                Ok(())
            }
            6 => tree::publish(&root, "s", &tree_from(&mut b, 0), &opts)
                .map(drop)
                .map_err(|_| std::io::ErrorKind::Other.into()),
            _ => tree::withdraw(&root, "s")
                .map(drop)
                .map_err(|_| std::io::ErrorKind::Other.into()),
        };
    }
    let first = tree::read(&root, "s").ok().flatten();
    let _ = tree::read_path(&root, "s", &["a", "b"]);
    let _ = tree::list(&root);
    let t = tree_from(&mut b, 0);
    if tree::publish(&root, "s", &t, &opts).is_ok() {
        let back = tree::read(&root, "s").expect("a published tree reads back");
        assert_eq!(back.as_ref(), Some(&t));
        let _ = tree::changed_keys(first.as_ref(), back.as_ref());
        assert!(tree::list(&root).unwrap().contains(&"s".to_string()));
    }
    let _ = tree::withdraw(&root, "s");
    let mut after = BTreeMap::new();
    fingerprint(&outside, &mut after);
    assert_eq!(before, after, "something outside the root changed");
});
