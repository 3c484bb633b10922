//! The published state tree: `$UPD_ROOT/<service>/...` (contract in
//! docs/api.md, layout and guarantees in docs/state-tree.md).
//!
//! `key` checks names (pure), `diff` compares snapshots (pure), `store` does
//! the disk work: `store/publisher.rs` the atomic publish by generation
//! directories and a symlink flip (and withdraw, claim, the locks),
//! `store/reader.rs` a bounded reader that never follows a planted symlink
//! (and list, owner).
use std::collections::BTreeMap;
use std::path::PathBuf;

pub mod diff;
pub mod key;
pub mod store;

pub use diff::changed_keys;
pub use key::{validate_key, validate_name, KeyError, MAX_KEY};
pub use store::{
    claim, list, lock_root, owner, prepare_root, publish, read, read_at, read_path, update,
    withdraw, PublishOpts, Published, RootMode, LOCK_WAIT,
};

/// Largest value, in bytes (without the newline added on disk).
pub const MAX_VALUE: usize = 64 * 1024;
/// Most entries (values and directories) in one snapshot, published or read.
pub const MAX_ENTRIES: usize = 4096;
/// Most value bytes in one snapshot: bounds the reader's memory.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Deepest nesting of directories (each level holds file descriptors).
pub const MAX_DEPTH: usize = 32;

/// A published tree: a value (file) or a directory of named nodes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Node {
    Value(Vec<u8>),
    Dir(BTreeMap<String, Node>),
}

/// Why a tree operation failed. `Display` is the one-line message scripts
/// see: it starts with `at`, the operation and what it acted on (`publish
/// eth0`, `list`, `root /run/upd`), then says what went wrong.
#[derive(Debug)]
pub enum TreeError {
    /// A service name that breaks the rule (`key::validate_name`).
    BadName {
        op: String,
        name: String,
        why: KeyError,
    },
    /// A tree, a path or a root that breaks the rules; nothing was touched.
    Invalid { at: String, why: String },
    /// Something where upd keeps its own files that upd did not make;
    /// refused, nothing was touched.
    Refused { at: String, why: String },
    /// A system call failed (`what`: the step, empty when `at` says it).
    Io {
        at: String,
        what: String,
        err: std::io::Error,
    },
    /// A snapshot that cannot be read as one (a symlink or a special file
    /// in it, more than the reader's bounds, a link to nothing).
    Unreadable { at: String, why: String },
    /// Gave up on something retrying does not clear: a lock held too long,
    /// a directory that keeps being replaced, a root that vanished.
    GaveUp { at: String, why: String },
    /// A step of a larger operation failed (`claim` withdraws first).
    Within { at: String, inner: Box<TreeError> },
    /// The function given to `update` refused the tree: its own message.
    Rejected(String),
}

impl std::fmt::Display for TreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeError::BadName { op, name, why } => {
                write!(
                    f,
                    "{op}: bad service name {}: {why}",
                    key::show(name.as_bytes())
                )
            }
            TreeError::Invalid { at, why } | TreeError::Unreadable { at, why } => {
                write!(f, "{at}: {why}")
            }
            TreeError::Refused { at, why } => write!(f, "{at}: refusing {why}"),
            TreeError::Io { at, what, err } if what.is_empty() => write!(f, "{at}: {err}"),
            TreeError::Io { at, what, err } => write!(f, "{at}: {what}: {err}"),
            // (`lock_root` has no operation to name: the message is `why`)
            TreeError::GaveUp { at, why } if at.is_empty() => f.write_str(why),
            TreeError::GaveUp { at, why } => write!(f, "{at}: {why}"),
            TreeError::Within { at, inner } => write!(f, "{at}: {inner}"),
            TreeError::Rejected(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for TreeError {}

/// `$UPD_ROOT`, or `/run/upd`.
pub fn root() -> PathBuf {
    std::env::var_os("UPD_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/upd"))
}

/// Counts of a checked tree.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Size {
    pub entries: usize,
    pub bytes: usize,
}

/// Checks a tree against the rules every snapshot obeys (keys, value size,
/// depth, entry and byte totals), so that a publish fails before touching
/// the disk and anything published can be read back. The message names the
/// key path, e.g. `bad key "a/b" at addresses/1: '/' not allowed ...`.
pub fn validate_tree(node: &Node) -> Result<Size, String> {
    let mut size = Size::default();
    let mut path = Vec::new();
    check(node, &mut path, &mut size)?;
    Ok(size)
}

fn check<'a>(node: &'a Node, path: &mut Vec<&'a str>, size: &mut Size) -> Result<(), String> {
    match node {
        Node::Value(v) => {
            if v.len() > MAX_VALUE {
                return Err(format!(
                    "value at {} is {} bytes (max {MAX_VALUE})",
                    key::show_path(path),
                    v.len()
                ));
            }
            size.bytes += v.len();
            if size.bytes > MAX_BYTES {
                return Err(format!("tree holds more than {MAX_BYTES} bytes of values"));
            }
        }
        Node::Dir(m) => {
            if path.len() >= MAX_DEPTH && !m.is_empty() {
                return Err(format!(
                    "tree nested deeper than {MAX_DEPTH} at {}",
                    key::show_path(path)
                ));
            }
            for (k, n) in m {
                if let Err(e) = validate_key(k.as_bytes()) {
                    return Err(format!(
                        "bad key {} at {}: {e}",
                        key::show(k.as_bytes()),
                        key::show_path(path)
                    ));
                }
                size.entries += 1;
                if size.entries > MAX_ENTRIES {
                    return Err(format!("tree has more than {MAX_ENTRIES} entries"));
                }
                path.push(k);
                check(n, path, size)?;
                path.pop();
            }
        }
    }
    Ok(())
}

/// Sets the value at key path `path` (at least one key) in the directory
/// `tree`, making the directories on the way. A value in the way of a
/// directory, or a directory where the value goes, is an error naming it
/// (`at` prefixes the path: `eth0/mtu is a value`).
pub fn set_value(tree: &mut Node, path: &[&str], value: Vec<u8>, at: &str) -> Result<(), String> {
    let Some((last, dirs)) = path.split_last() else {
        return Err(format!("{at}: empty path"));
    };
    // `at/k1/.../kn` (no `join`: it is not in the binary otherwise)
    let shown = |n: usize, what: &str| {
        let mut s = at.to_string();
        for k in &path[..n] {
            s.push('/');
            s.push_str(k);
        }
        s + what
    };
    let mut node = tree;
    for i in 0..=dirs.len() {
        let Node::Dir(m) = node else {
            return Err(shown(i, " is a value"));
        };
        if i == dirs.len() {
            if let Some(Node::Dir(_)) = m.get(*last) {
                return Err(shown(path.len(), " is a directory"));
            }
            m.insert(last.to_string(), Node::Value(value));
            return Ok(());
        }
        // (not the entry API: insert and get_mut are in the binary already)
        if !m.contains_key(dirs[i]) {
            m.insert(dirs[i].to_string(), Node::Dir(BTreeMap::new()));
        }
        let Some(next) = m.get_mut(dirs[i]) else {
            return Ok(());
        };
        node = next;
    }
    Ok(())
}

/// The node at key path `path` inside `node`, if any.
pub fn lookup<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(node, |n, k| match n {
        Node::Dir(m) => m.get(*k),
        Node::Value(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn validate_names_the_path() {
        let t = d(vec![(
            "addresses",
            d(vec![("1", d(vec![("a/b", v("x"))]))]),
        )]);
        assert_eq!(
            validate_tree(&t).unwrap_err(),
            "bad key \"a/b\" at addresses/1: '/' not allowed (letters, digits, '.', '_', '-', ':')"
        );
        let t = d(vec![("..", v("x"))]);
        assert!(validate_tree(&t)
            .unwrap_err()
            .starts_with("bad key \"..\" at top level"));
        let big = Node::Value(vec![b'x'; MAX_VALUE + 1]);
        let t = d(vec![("a", d(vec![("b", big)]))]);
        assert_eq!(
            validate_tree(&t).unwrap_err(),
            format!("value at a/b is {} bytes (max 65536)", MAX_VALUE + 1)
        );
        let ok = d(vec![
            ("a", Node::Value(vec![b'x'; MAX_VALUE])),
            ("e", d(vec![])),
        ]);
        assert_eq!(
            validate_tree(&ok),
            Ok(Size {
                entries: 2,
                bytes: MAX_VALUE
            })
        );
    }

    #[test]
    fn validate_bounds() {
        let many = Node::Dir((0..=MAX_ENTRIES).map(|i| (i.to_string(), v("x"))).collect());
        assert!(validate_tree(&many)
            .unwrap_err()
            .contains("more than 4096 entries"));
        let mut deep = v("x");
        for _ in 0..=MAX_DEPTH {
            deep = d(vec![("a", deep)]);
        }
        assert!(validate_tree(&deep).unwrap_err().contains("deeper than"));
        let fat = Node::Dir(
            (0..17)
                .map(|i| (i.to_string(), Node::Value(vec![0; MAX_VALUE])))
                .collect(),
        );
        assert!(validate_tree(&fat).unwrap_err().contains("bytes of values"));
    }

    #[test]
    fn set_value_makes_directories_and_names_conflicts() {
        let mut t = d(vec![("a", v("1"))]);
        set_value(&mut t, &["b", "c"], b"2".to_vec(), "s").unwrap();
        set_value(&mut t, &["a"], b"3".to_vec(), "s").unwrap();
        assert_eq!(t, d(vec![("a", v("3")), ("b", d(vec![("c", v("2"))]))]));
        assert_eq!(
            set_value(&mut t, &["a", "x"], vec![], "s").unwrap_err(),
            "s/a is a value"
        );
        assert_eq!(
            set_value(&mut t, &["b"], vec![], "s").unwrap_err(),
            "s/b is a directory"
        );
    }

    #[test]
    fn lookup_paths() {
        let t = d(vec![("a", d(vec![("b", v("1"))]))]);
        assert_eq!(lookup(&t, &["a", "b"]), Some(&v("1")));
        assert_eq!(lookup(&t, &["a", "b", "c"]), None);
        assert_eq!(lookup(&t, &[]), Some(&t));
    }
}
