//! The published state tree: `$UPD_ROOT/<service>/...` (contract in docs/api.md).
//! (Interface fixed; bodies being written.)
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A published tree: a value (file) or a directory of named nodes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Node {
    Value(Vec<u8>),
    Dir(BTreeMap<String, Node>),
}

/// Why a tree operation failed; `Display` is the one-line message scripts see.
#[derive(Debug)]
pub struct TreeError(pub String);

impl std::fmt::Display for TreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `$UPD_ROOT`, or `/run/upd`.
pub fn root() -> PathBuf {
    std::env::var_os("UPD_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/upd"))
}

/// Reads service `name`'s current snapshot; `None` when it is not published.
pub fn read(_root: &Path, _name: &str) -> Result<Option<Node>, TreeError> {
    Err(TreeError("tree::read: not written yet".into()))
}

/// Key paths (`a/b/c`) that differ between two snapshots, sorted.
pub fn changed_keys(_old: Option<&Node>, _new: Option<&Node>) -> Vec<String> {
    Vec::new()
}
