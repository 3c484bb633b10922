//! What changed between two snapshots, as key paths for subscribers.
//! The unit is the leaf: a value, or an empty directory. A directory that
//! appears or disappears contributes every leaf under it, so a subscriber
//! matching on `addresses/1/address` hears about it whether the value or the
//! whole `addresses` went away. A value turning into a directory (or back)
//! lists the value's path and the directory's leaves.
use std::collections::BTreeMap;

use super::Node;

/// Key paths (`a/b/c`) of the leaves added, removed or changed, sorted
/// (byte order), each once. `None` is a service that is not published.
pub fn changed_keys(old: Option<&Node>, new: Option<&Node>) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = String::new();
    diff(old, new, &mut path, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn push_key(path: &mut String, key: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('/');
    }
    path.push_str(key);
    len
}

fn diff(old: Option<&Node>, new: Option<&Node>, path: &mut String, out: &mut Vec<String>) {
    match (old, new) {
        (None, None) => {}
        (Some(Node::Value(a)), Some(Node::Value(b))) => {
            if a != b {
                out.push(path.clone());
            }
        }
        (Some(Node::Dir(a)), Some(Node::Dir(b))) => diff_dirs(a, b, path, out),
        (Some(n), None) | (None, Some(n)) => leaves(n, path, out),
        (Some(a), Some(b)) => {
            // A value became a directory or the other way round.
            leaves(a, path, out);
            leaves(b, path, out);
        }
    }
}

fn diff_dirs(
    a: &BTreeMap<String, Node>,
    b: &BTreeMap<String, Node>,
    path: &mut String,
    out: &mut Vec<String>,
) {
    if a.is_empty() != b.is_empty() && !path.is_empty() {
        // An empty directory is a leaf of its own: it appeared or got filled.
        out.push(path.clone());
    }
    for (k, va) in a {
        let len = push_key(path, k);
        diff(Some(va), b.get(k), path, out);
        path.truncate(len);
    }
    for (k, vb) in b {
        if !a.contains_key(k) {
            let len = push_key(path, k);
            leaves(vb, path, out);
            path.truncate(len);
        }
    }
}

fn leaves(n: &Node, path: &mut String, out: &mut Vec<String>) {
    match n {
        Node::Value(_) => out.push(path.clone()),
        Node::Dir(m) if m.is_empty() => {
            if !path.is_empty() {
                out.push(path.clone());
            }
        }
        Node::Dir(m) => {
            for (k, v) in m {
                let len = push_key(path, k);
                leaves(v, path, out);
                path.truncate(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Node {
        Node::Value(s.as_bytes().to_vec())
    }
    fn d(entries: &[(&str, Node)]) -> Node {
        Node::Dir(
            entries
                .iter()
                .map(|(k, n)| (k.to_string(), n.clone()))
                .collect(),
        )
    }

    #[test]
    fn nothing_changed() {
        let t = d(&[("a", v("1")), ("b", d(&[("c", v("2"))]))]);
        assert!(changed_keys(Some(&t), Some(&t)).is_empty());
        assert!(changed_keys(None, None).is_empty());
    }

    #[test]
    fn added_removed_changed() {
        let old = d(&[
            ("a", v("1")),
            ("b", d(&[("c", v("2")), ("d", v("3"))])),
            ("gone", v("x")),
        ]);
        let new = d(&[
            ("a", v("1")),
            ("b", d(&[("c", v("20")), ("d", v("3"))])),
            ("new", d(&[("x", v("y"))])),
        ]);
        assert_eq!(
            changed_keys(Some(&old), Some(&new)),
            vec!["b/c", "gone", "new/x"]
        );
    }

    #[test]
    fn appear_and_vanish_list_leaves() {
        let t = d(&[("a", v("1")), ("b", d(&[("c", v("2"))])), ("e", d(&[]))]);
        assert_eq!(changed_keys(None, Some(&t)), vec!["a", "b/c", "e"]);
        assert_eq!(changed_keys(Some(&t), None), vec!["a", "b/c", "e"]);
    }

    #[test]
    fn file_to_dir_and_back() {
        let f = d(&[("x", v("1"))]);
        let dd = d(&[("x", d(&[("y", v("2"))]))]);
        assert_eq!(changed_keys(Some(&f), Some(&dd)), vec!["x", "x/y"]);
        assert_eq!(changed_keys(Some(&dd), Some(&f)), vec!["x", "x/y"]);
    }

    #[test]
    fn empty_dirs_are_leaves() {
        let a = d(&[("x", d(&[]))]);
        let b = d(&[("x", d(&[("y", v("1"))]))]);
        assert_eq!(changed_keys(Some(&a), Some(&b)), vec!["x", "x/y"]);
        assert_eq!(changed_keys(Some(&d(&[])), Some(&a)), vec!["x"]);
    }
}
