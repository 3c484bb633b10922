//! The tree on disk (docs/state-tree.md):
//!
//! ```text
//! $UPD_ROOT/eth0 -> .eth0/7        the only symlink ever followed
//! $UPD_ROOT/.eth0/6/...            previous generation, kept for readers
//! $UPD_ROOT/.eth0/7/...            current generation: one file per value
//! $UPD_ROOT/.eth0/8/...            the next one, being built (not linked yet)
//! $UPD_ROOT/.eth0/link.tmp         the new symlink, just before the flip
//! ```
//!
//! Publish builds the next generation in place (hard-linking values that
//! did not change from the current one): readers only follow `<name>`, so
//! an unlinked generation is invisible to them. Then it renames a fresh
//! symlink over `<name>`: readers see the old tree or the new one, never a
//! mix. The temporary link lives inside `.<name>/`, so no service's
//! leftovers can collide with another service's names. Publishers of one
//! service serialise on an `flock` of `.<name>/`.
//!
//! Every path below the root is opened relative to a directory fd with
//! `O_NOFOLLOW`; the symlink `<name>` is read with `readlinkat` and only its
//! exact form `.<name>/<digits>` is honoured.
//!
//! Publishing (and withdraw, claim, the locks) is in `store/publisher.rs`;
//! reading (and list, owner) in `store/reader.rs`; what both need is here.
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::key::{self, parse_generation, parse_link, show, show_path};
use super::{validate_tree, Node, TreeError, MAX_BYTES, MAX_DEPTH, MAX_ENTRIES, MAX_VALUE};
use crate::sys::fs::{self as sfs, fd_ref, Kind};

mod publisher;
mod reader;

pub use publisher::{
    claim, lock_root, prepare_root, publish, update, withdraw, PublishOpts, Published, RootMode,
    LOCK_WAIT,
};
pub use reader::{list, owner, read, read_at, read_path};

/// How many times a reader starts over when the generation it was reading
/// is deleted under it (two publishes during one read).
pub(super) const READ_ATTEMPTS: usize = 5;
pub(super) const LINK_TMP: &str = "link.tmp";

pub(super) fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

pub(super) fn c(s: &str) -> CString {
    // Keys, names and generation numbers never hold a NUL (checked before).
    CString::new(s).unwrap_or_default()
}

pub(super) fn dot(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 1);
    s.push('.');
    s.push_str(name);
    s
}

pub(super) fn check_name(op: &str, name: &str) -> Result<(), TreeError> {
    key::validate_name(name.as_bytes()).map_err(|why| TreeError::BadName {
        op: op.to_string(),
        name: name.to_string(),
        why,
    })
}

/// Opens the root; `Ok(None)` when it does not exist.
pub(super) fn open_root(op: &str, root: &Path) -> Result<Option<OwnedFd>, TreeError> {
    let p = sfs::cstr(root.as_os_str().as_bytes()).map_err(|_| TreeError::Invalid {
        at: op.to_string(),
        why: format!("bad root {}", root.display()),
    })?;
    match sfs::open_dir(&p) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if errno(&e) == libc::ENOENT => Ok(None),
        Err(err) => Err(TreeError::Io {
            at: op.to_string(),
            what: format!("cannot open root {}", root.display()),
            err,
        }),
    }
}

/// What `$UPD_ROOT/<name>` is.
pub(super) enum Link {
    Absent,
    Generation(u64),
}

pub(super) fn read_link(
    op: &str,
    root: &Path,
    rootfd: BorrowedFd,
    name: &str,
) -> Result<Link, TreeError> {
    match sfs::readlink_at(rootfd, &c(name)) {
        Ok(t) => match parse_link(name, &t) {
            Some(g) => Ok(Link::Generation(g)),
            None => Err(TreeError::Refused {
                at: format!("{op} {name}"),
                why: format!(
                    "{}/{name}: a symlink to {}, not to .{name}/<generation>",
                    root.display(),
                    show(&t)
                ),
            }),
        },
        Err(e) if errno(&e) == libc::ENOENT => Ok(Link::Absent),
        Err(e) if errno(&e) == libc::EINVAL => Err(TreeError::Refused {
            at: format!("{op} {name}"),
            why: format!(
                "{}/{name}: not a symlink made by upd (a directory or file is in the way)",
                root.display()
            ),
        }),
        Err(err) => Err(TreeError::Io {
            at: format!("{op} {name}"),
            what: format!("cannot read {}/{name}", root.display()),
            err,
        }),
    }
}

/// A generation number in decimal, without `format!`'s machinery.
pub(super) fn itoa(mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut s = String::with_capacity(24);
    s.extend(digits[i..].iter().map(|&d| d as char));
    s
}

pub(super) fn c_dot(name: &str) -> CString {
    c(&dot(name))
}

pub(super) fn kind_hint(k: Kind) -> Option<bool> {
    match k {
        Kind::Dir => Some(true),
        Kind::File | Kind::Symlink => Some(false),
        Kind::Other => None,
    }
}

/// Files and directories of a new generation whose `close` waits until
/// after the flip; beyond this many they are closed at once.
pub(super) const DEFER_CLOSE: usize = 16;

/// Keeps `fd` for a later `close` if `closing` has room, else closes it now.
pub(super) fn defer_close(closing: &mut Vec<OwnedFd>, fd: OwnedFd) {
    if closing.len() < DEFER_CLOSE {
        closing.push(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::publisher::LOCK_NAME;
    use super::reader::{open_generation, still_linked};
    use super::*;
    use crate::tree::Published;
    use std::os::unix::fs::MetadataExt;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("upd-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }
    fn tree(kv: &[(&str, &str)]) -> Node {
        Node::Dir(
            kv.iter()
                .map(|(k, v)| (k.to_string(), Node::Value(v.as_bytes().to_vec())))
                .collect(),
        )
    }
    const PUBLIC: PublishOpts = PublishOpts { private: false };

    /// Publishes from another thread: its own (empty) cache, like another process.
    fn elsewhere(root: &Path, f: impl FnOnce(&Path) + Send) {
        std::thread::scope(|s| {
            s.spawn(|| f(root));
        });
    }

    /// Everything inotify says about `dir` in the mask subscribers use.
    fn watch(dir: &Path) -> inotify::Inotify {
        use inotify::WatchMask as M;
        let ino = inotify::Inotify::init().unwrap();
        let mask = M::CREATE | M::MOVED_TO | M::DELETE | M::MOVED_FROM | M::ATTRIB;
        ino.watches().add(dir, mask).unwrap();
        ino
    }
    fn events(ino: &mut inotify::Inotify) -> usize {
        let mut buf = [0u8; 4096];
        match ino.read_events(&mut buf) {
            Ok(ev) => ev.count(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn an_unchanged_tree_is_not_published_again() {
        let root = tmp("unchanged");
        let a = tree(&[("x", "1"), ("y", "2")]);
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), Published::New(1));
        let mut root_events = watch(&root);
        let mut dot_events = watch(&root.join(".s"));
        // Remembered (this thread published it): nothing is written.
        assert_eq!(
            publish(&root, "s", &a, &PUBLIC).unwrap(),
            Published::Unchanged(1)
        );
        // Not remembered (another publisher): compared with the files.
        elsewhere(&root, |r| {
            assert_eq!(
                publish(r, "s", &a, &PUBLIC).unwrap(),
                Published::Unchanged(1)
            );
        });
        assert_eq!(events(&mut root_events), 0, "no event for subscribers");
        assert_eq!(events(&mut dot_events), 0, "no generation made");
        assert_eq!(read(&root, "s").unwrap(), Some(a.clone()));
        // One value changed, or the privacy: a new snapshot.
        let b = tree(&[("x", "1"), ("y", "3")]);
        assert_eq!(publish(&root, "s", &b, &PUBLIC).unwrap(), Published::New(2));
        assert!(events(&mut root_events) > 0, "the flip is seen");
        let private = PublishOpts { private: true };
        assert_eq!(
            publish(&root, "s", &b, &private).unwrap(),
            Published::New(3)
        );
        assert_eq!(
            publish(&root, "s", &b, &private).unwrap(),
            Published::Unchanged(3)
        );
        elsewhere(&root, |r| {
            assert_eq!(publish(r, "s", &b, &PUBLIC).unwrap(), Published::New(4));
        });
        // Our memory of generation 3 is stale (another publisher made 4 with
        // the same values): the comparison is with generation 4's privacy.
        assert_eq!(
            publish(&root, "s", &b, &PUBLIC).unwrap(),
            Published::Unchanged(4)
        );
        // A tree too big to remember is compared with the files.
        let big = Node::Dir(
            (0..20)
                .map(|i| (i.to_string(), Node::Value(vec![b'x'; 1024])))
                .collect(),
        );
        assert_eq!(
            publish(&root, "s", &big, &PUBLIC).unwrap(),
            Published::New(5)
        );
        assert_eq!(
            publish(&root, "s", &big, &PUBLIC).unwrap(),
            Published::Unchanged(5)
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_stale_cache_is_not_trusted() {
        let root = tmp("stale");
        let a = tree(&[("x", "1"), ("y", "1")]);
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), Published::New(1));
        // Another publisher changes x: our memory of generation 1 is stale
        // (the link no longer names it), so x must not be linked as "1".
        elsewhere(&root, |r| {
            publish(r, "s", &tree(&[("x", "2"), ("y", "1")]), &PUBLIC).unwrap();
        });
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), Published::New(3));
        assert_eq!(read(&root, "s").unwrap(), Some(a.clone()));
        // A withdraw and fresh publishes elsewhere reach generation 3 again,
        // in a new `.s`: our memory of "generation 3" is of the old one.
        elsewhere(&root, |r| {
            assert!(withdraw(r, "s").unwrap());
            for g in 1..=3 {
                // (a different tree each time: an equal one is not published)
                let b = tree(&[("x", "9"), ("y", &g.to_string())]);
                assert_eq!(publish(r, "s", &b, &PUBLIC).unwrap(), Published::New(g));
            }
        });
        let c = tree(&[("x", "1"), ("y", "9")]);
        assert_eq!(publish(&root, "s", &c, &PUBLIC).unwrap(), Published::New(4));
        assert_eq!(read(&root, "s").unwrap(), Some(c));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_short_way_still_cleans_and_links() {
        let root = tmp("short");
        let a = tree(&[("x", "1"), ("y", "1")]);
        publish(&root, "s", &a, &PUBLIC).unwrap();
        let x = std::fs::metadata(root.join("s/x")).unwrap().ino();
        let b = tree(&[("x", "1"), ("y", "2")]);
        publish(&root, "s", &b, &PUBLIC).unwrap();
        assert_eq!(
            std::fs::metadata(root.join("s/x")).unwrap().ino(),
            x,
            "linked, not rewritten"
        );
        // A killed publisher's temporary link (not a directory: the link
        // count does not show it, the listing is skipped) is replaced.
        std::os::unix::fs::symlink(".s/99", root.join(".s/link.tmp")).unwrap();
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), Published::New(3));
        assert_eq!(read(&root, "s").unwrap(), Some(a.clone()));
        // A staging directory left behind is seen (the link count changed).
        std::fs::create_dir_all(root.join(".s/4.tmp/d")).unwrap();
        assert_eq!(publish(&root, "s", &b, &PUBLIC).unwrap(), Published::New(4));
        let mut left: Vec<_> = std::fs::read_dir(root.join(".s"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != LOCK_NAME)
            .collect();
        left.sort();
        assert_eq!(left, vec!["3", "4"]);
        // The root replaced under a publisher that remembers it.
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(publish(&root, "s", &b, &PUBLIC).unwrap(), Published::New(1));
        assert_eq!(read(&root, "s").unwrap(), Some(b));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_changed_in_place_is_rewritten_without_memory() {
        // Without a cache entry (another thread), a value is compared with
        // the file's bytes; a file whose bytes differ is rewritten.
        let root = tmp("bytes");
        let a = tree(&[("x", "1")]);
        publish(&root, "s", &a, &PUBLIC).unwrap();
        std::fs::write(root.join("s/x"), b"2\n").unwrap();
        elsewhere(&root, |r| {
            publish(r, "s", &a, &PUBLIC).unwrap();
        });
        assert_eq!(read(&root, "s").unwrap(), Some(a));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_kept_reader_sees_a_withdraw_and_a_republish() {
        let root = tmp("reader");
        let a = tree(&[("x", "1")]);
        publish(&root, "s", &a, &PUBLIC).unwrap();
        let rootfd = open_root("read", &root).unwrap().unwrap();
        let rootfd = fd_ref(&rootfd);
        let mut dot = None;
        let mut closing = Vec::new();
        assert_eq!(
            read_at(&root, rootfd, "s", &mut dot, &mut closing, &mut None).unwrap(),
            Some(a)
        );
        assert!(dot.is_some(), ".s kept open");
        assert_eq!(
            closing.len(),
            2,
            "the value and the generation, closed later"
        );
        closing.clear();
        // What the reader opened: generation 1 of the first `.s`.
        let gen1 = open_generation(rootfd, "s", &mut dot, 1).ok().unwrap();
        assert!(still_linked(&root, rootfd, "s", 1, fd_ref(&gen1))
            .unwrap()
            .is_some());
        // Withdrawn and published again up to the same generation number,
        // in a new `.s`: the link names 1 again, but not the directory read.
        let b = tree(&[("x", "2")]);
        elsewhere(&root, |r| {
            assert!(withdraw(r, "s").unwrap());
            assert_eq!(read(r, "s").unwrap(), None);
            assert_eq!(publish(r, "s", &b, &PUBLIC).unwrap(), Published::New(1));
        });
        assert!(still_linked(&root, rootfd, "s", 1, fd_ref(&gen1))
            .unwrap()
            .is_none());
        // The kept `.s` is the removed one: opened afresh.
        assert_eq!(
            read_at(&root, rootfd, "s", &mut dot, &mut closing, &mut None).unwrap(),
            Some(b)
        );
        // Gone: `None`, and a value over the read buffer is read whole.
        withdraw(&root, "s").unwrap();
        assert_eq!(
            read_at(&root, rootfd, "s", &mut dot, &mut closing, &mut None).unwrap(),
            None
        );
        let big = "v".repeat(10_000);
        let c = tree(&[("big", big.as_str()), ("edge", &big[..4095])]);
        publish(&root, "s", &c, &PUBLIC).unwrap();
        assert_eq!(
            read_at(&root, rootfd, "s", &mut dot, &mut closing, &mut None).unwrap(),
            Some(c)
        );
        // At most DEFER_CLOSE fds wait for their close.
        let many: Vec<(String, String)> = (0..40).map(|i| (i.to_string(), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        publish(&root, "s", &tree(&many), &PUBLIC).unwrap();
        assert_eq!(
            read_at(&root, rootfd, "s", &mut dot, &mut closing, &mut None).unwrap(),
            Some(tree(&many))
        );
        assert_eq!(closing.len(), DEFER_CLOSE);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_killed_publishers_generation_is_never_linked() {
        // A publisher killed while building leaves `.s/<next>`: a numbered
        // directory never linked, with anything in it.
        let root = tmp("killed");
        let list = |root: &Path| {
            let mut l: Vec<_> = std::fs::read_dir(root.join(".s"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n != LOCK_NAME)
                .collect();
            l.sort();
            l
        };
        let plant = |root: &Path, g: &str| {
            std::fs::create_dir_all(root.join(".s").join(g)).unwrap();
            std::fs::write(root.join(".s").join(g).join("junk"), b"x\n").unwrap();
        };
        publish(&root, "s", &tree(&[("x", "1")]), &PUBLIC).unwrap();
        publish(&root, "s", &tree(&[("x", "2")]), &PUBLIC).unwrap();
        // Seen in the link count: listed, skipped over, deleted.
        plant(&root, "3");
        let c = tree(&[("x", "3")]);
        assert_eq!(publish(&root, "s", &c, &PUBLIC).unwrap(), Published::New(4));
        assert_eq!(read(&root, "s").unwrap(), Some(c));
        assert_eq!(list(&root), vec!["2", "4"]);
        // Not seen (the link count is what we left: the previous generation
        // went meanwhile): the next number is taken, the leftover replaced.
        std::fs::remove_dir_all(root.join(".s/2")).unwrap();
        plant(&root, "5");
        let d = tree(&[("x", "4")]);
        assert_eq!(publish(&root, "s", &d, &PUBLIC).unwrap(), Published::New(5));
        assert_eq!(read(&root, "s").unwrap(), Some(d));
        assert_eq!(list(&root), vec!["4", "5"]);
        // The long way (no memory) too.
        plant(&root, "6");
        let e = tree(&[("x", "5")]);
        elsewhere(&root, |r| {
            assert_eq!(publish(r, "s", &e, &PUBLIC).unwrap(), Published::New(7));
        });
        assert_eq!(read(&root, "s").unwrap(), Some(e));
        assert_eq!(list(&root), vec!["5", "7"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn itoa_matches_display() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            assert_eq!(itoa(n), n.to_string());
        }
    }

    #[test]
    fn the_lock_is_a_private_file_and_a_held_one_times_out() {
        let root = tmp("lock");
        publish(&root, "s", &tree(&[("x", "1")]), &PUBLIC).unwrap();
        let lock = root.join(".s").join(LOCK_NAME);
        let m = std::fs::metadata(&lock).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600, "only its owner can open it");
        // Another process holds it (another open file): we wait, then fail.
        let held = std::fs::File::open(&lock).unwrap();
        assert!(sfs::try_lock_exclusive(std::os::fd::AsFd::as_fd(&held)).unwrap());
        let t0 = std::time::Instant::now();
        let e = elsewhere_result(&root, |r| publish(r, "s", &tree(&[("x", "2")]), &PUBLIC));
        let waited = t0.elapsed().as_secs_f64();
        let e = e.unwrap_err().to_string();
        assert!(e.contains("held by another process for over 1 s"), "{e}");
        assert!(
            (LOCK_WAIT..LOCK_WAIT + 2.0).contains(&waited),
            "waited {waited}"
        );
        let e = elsewhere_result(&root, |r| withdraw(r, "s"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("withdraw s: cannot lock"), "{e}");
        drop(held);
        assert_eq!(read(&root, "s").unwrap(), Some(tree(&[("x", "1")])));
        publish(&root, "s", &tree(&[("x", "3")]), &PUBLIC).unwrap();
        // A directory anyone may open is no lock: holding `.s/` blocks nothing.
        let dir = std::fs::File::open(root.join(".s")).unwrap();
        assert!(sfs::try_lock_exclusive(std::os::fd::AsFd::as_fd(&dir)).unwrap());
        elsewhere(&root, |r| {
            publish(r, "s", &tree(&[("x", "4")]), &PUBLIC).unwrap();
        });
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn elsewhere_result<T: Send>(root: &Path, f: impl FnOnce(&Path) -> T + Send) -> T {
        std::thread::scope(|s| s.spawn(|| f(root)).join().unwrap())
    }

    #[test]
    fn update_is_atomic_against_other_publishers_and_keeps_privacy() {
        let root = tmp("update");
        let add = |r: &Path, k: String| {
            update(r, "cfg", false, &mut |t| {
                let mut m = match t {
                    Some(Node::Dir(m)) => m,
                    _ => Default::default(),
                };
                m.insert(k.clone(), Node::Value(b"1".to_vec()));
                Ok(Some(Node::Dir(m)))
            })
            .unwrap()
        };
        std::thread::scope(|s| {
            for i in 0..16 {
                let root = &root;
                s.spawn(move || assert!(add(root, format!("k{i}"))));
            }
        });
        match read(&root, "cfg").unwrap() {
            Some(Node::Dir(m)) => assert_eq!(m.len(), 16, "every write kept: {:?}", m.keys()),
            other => panic!("{other:?}"),
        }
        // nothing to do: nothing published
        assert!(!update(&root, "cfg", false, &mut |_| Ok(None)).unwrap());
        assert_eq!(
            update(&root, "cfg", false, &mut |_| Err("no".into()))
                .unwrap_err()
                .to_string(),
            "no"
        );
        // a private tree stays private; a new one is as asked
        publish(
            &root,
            "p",
            &tree(&[("a", "1")]),
            &PublishOpts { private: true },
        )
        .unwrap();
        update(&root, "p", false, &mut |_| Ok(Some(tree(&[("a", "2")])))).unwrap();
        assert_eq!(
            std::fs::metadata(root.join("p/a")).unwrap().mode() & 0o777,
            0o600
        );
        update(&root, "q", true, &mut |t| {
            assert!(t.is_none());
            Ok(Some(tree(&[("a", "1")])))
        })
        .unwrap();
        assert_eq!(
            std::fs::metadata(root.join(".q")).unwrap().mode() & 0o777,
            0o700
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn claim_withdraws_and_owner_says_who_wrote() {
        let root = tmp("claim");
        publish(&root, "s", &tree(&[("x", "1")]), &PUBLIC).unwrap();
        let me = sfs::geteuid();
        assert_eq!(owner(&root, "s").unwrap(), Some(me));
        assert_eq!(owner(&root, "nothing").unwrap(), None);
        claim(&root, "s", me, sfs::getegid(), true).unwrap();
        assert!(
            read(&root, "s").unwrap().is_none(),
            "a claim withdraws what was there"
        );
        assert_eq!(
            std::fs::metadata(root.join(".s")).unwrap().mode() & 0o777,
            0o700
        );
        publish(
            &root,
            "s",
            &tree(&[("x", "2")]),
            &PublishOpts { private: true },
        )
        .unwrap();
        assert_eq!(read(&root, "s").unwrap(), Some(tree(&[("x", "2")])));
        if me == 0 {
            // root acting in another user's tree writes as that user
            claim(&root, "u", 4242, 4243, false).unwrap();
            publish(&root, "u", &tree(&[("x", "1")]), &PUBLIC).unwrap();
            for p in ["u/x", "u", ".u/lock"] {
                let m = std::fs::metadata(root.join(p)).unwrap();
                assert_eq!((m.uid(), m.gid()), (4242, 4243), "{p}");
            }
            assert_eq!(
                std::fs::symlink_metadata(root.join("u")).unwrap().uid(),
                4242
            );
            assert_eq!(owner(&root, "u").unwrap(), Some(4242));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn prepare_root_never_leaves_it_world_writable() {
        let root = tmp("prepare");
        let m = prepare_root(&root, None).unwrap();
        assert_eq!(m.publishers, None);
        use std::os::unix::fs::PermissionsExt;
        let gid = std::fs::metadata(&root).unwrap().gid();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let m = prepare_root(&root, None).unwrap();
        let mode = std::fs::metadata(&root).unwrap().mode() & 0o7777;
        if gid == 0 {
            // group 0 may not publish: only root writes
            assert_eq!((mode, m.publishers), (0o755, None), "{}", m.notes);
            let p = sfs::cstr(root.as_os_str().as_bytes()).unwrap();
            sfs::chown_path(&p, u32::MAX, 4242).unwrap();
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let m = prepare_root(&root, None).unwrap();
        let mode = std::fs::metadata(&root).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o1775, "{:?}", m.notes);
        assert!(m.notes.starts_with("mode 777 made 1775"), "{}", m.notes);
        assert_eq!(m.publishers, Some(std::fs::metadata(&root).unwrap().gid()));
        if sfs::geteuid() == 0 {
            // no group may write it yet: given to the group asked for
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
            let m = prepare_root(&root, Some(4343)).unwrap();
            let meta = std::fs::metadata(&root).unwrap();
            assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o1775, 4343));
            assert_eq!(m.publishers, Some(4343));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_supervisor_lock_is_held_once() {
        let root = tmp("suplock");
        let held = lock_root(&root).unwrap();
        let e = elsewhere_result(&root, lock_root).unwrap_err().to_string();
        assert!(e.ends_with("another supervisor holds it"), "{e}");
        drop(held);
        lock_root(&root).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
