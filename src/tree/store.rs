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
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::key::{self, parse_generation, parse_link, show, show_path};
use super::{validate_tree, Node, TreeError, MAX_BYTES, MAX_DEPTH, MAX_ENTRIES, MAX_VALUE};
use crate::sys::fs::{self as sfs, fd_ref, Kind};

/// How a publish writes its files.
#[derive(Clone, Copy, Default, Debug)]
pub struct PublishOpts {
    /// Files 0600 and directories 0700 (else 0644 / 0755).
    pub private: bool,
}

impl PublishOpts {
    fn file_mode(&self) -> u32 {
        if self.private {
            0o600
        } else {
            0o644
        }
    }
    fn dir_mode(&self) -> u32 {
        if self.private {
            0o700
        } else {
            0o755
        }
    }
}

/// How many times a reader starts over when the generation it was reading
/// is deleted under it (two publishes during one read).
const READ_ATTEMPTS: usize = 5;
const LINK_TMP: &str = "link.tmp";

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn c(s: &str) -> CString {
    // Keys, names and generation numbers never hold a NUL (checked before).
    CString::new(s).unwrap_or_default()
}

fn dot(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 1);
    s.push('.');
    s.push_str(name);
    s
}

fn check_name(op: &str, name: &str) -> Result<(), TreeError> {
    key::validate_name(name.as_bytes()).map_err(|e| {
        TreeError(format!(
            "{op}: bad service name {}: {e}",
            show(name.as_bytes())
        ))
    })
}

/// Opens the root; `Ok(None)` when it does not exist.
fn open_root(op: &str, root: &Path) -> Result<Option<OwnedFd>, TreeError> {
    let p = sfs::cstr(root.as_os_str().as_bytes())
        .map_err(|_| TreeError(format!("{op}: bad root {}", root.display())))?;
    match sfs::open_dir(&p) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if errno(&e) == libc::ENOENT => Ok(None),
        Err(e) => Err(TreeError(format!(
            "{op}: cannot open root {}: {e}",
            root.display()
        ))),
    }
}

/// What `$UPD_ROOT/<name>` is.
enum Link {
    Absent,
    Generation(u64),
}

fn read_link(op: &str, root: &Path, rootfd: BorrowedFd, name: &str) -> Result<Link, TreeError> {
    match sfs::readlink_at(rootfd, &c(name)) {
        Ok(t) => match parse_link(name, &t) {
            Some(g) => Ok(Link::Generation(g)),
            None => Err(TreeError(format!(
                "{op} {name}: refusing {}/{name}: a symlink to {}, not to .{name}/<generation>",
                root.display(),
                show(&t)
            ))),
        },
        Err(e) if errno(&e) == libc::ENOENT => Ok(Link::Absent),
        Err(e) if errno(&e) == libc::EINVAL => Err(TreeError(format!(
            "{op} {name}: refusing {}/{name}: not a symlink made by upd (a directory or file is in the way)",
            root.display()
        ))),
        Err(e) => Err(TreeError(format!("{op} {name}: cannot read {}/{name}: {e}", root.display()))),
    }
}

// ---------------------------------------------------------------- publish

/// What a publisher process remembers of a service it published, so the
/// next publish of it costs fewer syscalls: the values of the generation it
/// linked are known, so unchanged ones are hard-linked without being read
/// back, and the first look at `<name>` (before locking) is skipped.
/// Trusted only after checks under the lock: `.<name>` is still the
/// directory it was (not removed, not replaced after a withdraw) and
/// `<name>` still names our generation (another publisher or a withdraw
/// changes one of them; then the entry is dropped and the publish takes the
/// long way). No fd is kept: an open fd would pin the file system (a tmpfs
/// could not be unmounted while any publisher lives), and any fd on the
/// root or below holds back the root's `IN_DELETE_SELF` until it is closed:
/// every subscriber would miss a root removed and made again for as long as
/// an idle publisher lives (it saves 2 `open`s per publish, not worth it).
struct Cached {
    root: std::path::PathBuf,
    name: String,
    dot_id: (u64, u64),
    generation: u64,
    /// The one other generation left in `.<name>/` (the one `generation`
    /// replaced), when the last publish deleted all the others; `None` with
    /// `clean` when there was none.
    prev: Option<u64>,
    /// Whether `.<name>/` held exactly `generation` and `prev` after our
    /// last publish (then a matching link count spares listing it).
    clean: bool,
    private: bool,
    /// What `generation` holds; `None` when too big to keep (then values
    /// are compared with the files, as without a cache).
    tree: Option<Node>,
    /// Device, inode and change time (ns) of `.<name>/<generation>` when
    /// we renamed it into place. `tree` is trusted only if the directory
    /// we open as the current generation still has them: inode numbers
    /// alone are reused (ext4 reuses a freed one at once), a
    /// nanosecond change time with them is not.
    stamp: Stamp,
}

type Stamp = (u64, u64, i64, i64);

fn stamp(m: &sfs::Meta) -> Stamp {
    (m.dev, m.ino, m.ctime.0, m.ctime.1)
}

/// Services remembered per thread (a service process publishes one or a
/// few); the least recently used goes first.
const CACHE_SLOTS: usize = 8;
/// Trees with more value bytes than this are not kept in memory.
const CACHE_MAX_BYTES: usize = 16 * 1024;

thread_local! {
    static CACHE: std::cell::RefCell<Vec<Cached>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_cached(root: &Path, name: &str) -> Option<Cached> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let i = c.iter().position(|e| e.name == name && e.root == root)?;
        Some(c.remove(i))
    })
}

fn put_cached(e: Cached) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_SLOTS {
            c.remove(0);
        }
        c.push(e);
    })
}

/// Forgets what this thread remembers of `root`/`name` (after a withdraw).
fn forget_cached(root: &Path, name: &str) {
    drop(take_cached(root, name));
}

fn id(m: &sfs::Meta) -> (u64, u64) {
    (m.dev, m.ino)
}

/// Replaces service `name`'s published tree with `tree` (a directory node)
/// atomically; returns the new generation number. On any error the previous
/// snapshot is untouched and no partial generation is left behind.
pub fn publish(root: &Path, name: &str, tree: &Node, opts: &PublishOpts) -> Result<u64, TreeError> {
    check_name("publish", name)?;
    let entries = match tree {
        Node::Dir(m) => m,
        Node::Value(_) => {
            return Err(TreeError(format!(
                "publish {name}: the tree must be a table, not a value"
            )))
        }
    };
    let size = validate_tree(tree).map_err(|m| TreeError(format!("publish {name}: {m}")))?;
    let keep = |c: &mut Cached, (g, prev, clean, st): Done| {
        c.generation = g;
        c.stamp = st;
        c.prev = prev;
        c.clean = clean;
        c.private = opts.private;
        c.tree = (size.bytes <= CACHE_MAX_BYTES).then(|| tree.clone());
    };
    if let Some(mut c) = take_cached(root, name) {
        match publish_cached(root, name, entries, opts, &c) {
            Some(r) => {
                if let Ok(done) = r {
                    keep(&mut c, done);
                    put_cached(c);
                }
                return r.map(|d| d.0);
            }
            None => drop(c), // stale: the long way
        }
    }
    let (r, c) = publish_uncached(root, name, entries, opts);
    if let (Ok(done), Some(mut c)) = (&r, c) {
        keep(&mut c, *done);
        put_cached(c);
    }
    r.map(|d| d.0)
}

/// Read-modify-write of service `name`'s tree, atomic against every other
/// publisher (and withdraw) of it: under the service's lock, `f` gets the
/// current snapshot (`None` when not published) and returns the tree to
/// publish, or `None` to leave it as it is. A published tree keeps its
/// privacy (a private tree stays private); a new one is private when
/// `private_if_new`. `Ok(true)` when it published.
pub fn update(
    root: &Path,
    name: &str,
    private_if_new: bool,
    f: &mut dyn FnMut(Option<Node>) -> Result<Option<Node>, String>,
) -> Result<bool, TreeError> {
    check_name("publish", name)?;
    forget_cached(root, name);
    let rootfd = match open_root("publish", root)? {
        Some(fd) => fd,
        None => {
            make_root(root, name)?;
            open_root("publish", root)?.ok_or_else(|| {
                TreeError(format!("publish {name}: root {} vanished", root.display()))
            })?
        }
    };
    let rootfd = fd_ref(&rootfd);
    read_link("publish", root, rootfd, name)?;
    let locked = lock_service_dir("publish", root, rootfd, name, &c_dot(name), None)?;
    let dotfd = fd_ref(&locked.dot);
    let current = match read_link("publish", root, rootfd, name)? {
        Link::Generation(g) => Some(g),
        Link::Absent => None,
    };
    let private = locked.meta.perm & 0o077 == 0 || (current.is_none() && private_if_new);
    let opts = PublishOpts { private };
    let mut closing = Vec::new();
    let tree = match current {
        Some(_) => read_open(root, rootfd, name, &[], &mut None, &mut closing, &mut None)?,
        None => None,
    };
    drop(closing);
    let Some(new) = f(tree).map_err(TreeError)? else {
        return Ok(false);
    };
    let Node::Dir(entries) = &new else {
        return Err(TreeError(format!(
            "publish {name}: the tree must be a table, not a value"
        )));
    };
    validate_tree(&new).map_err(|m| TreeError(format!("publish {name}: {m}")))?;
    if locked.meta.perm != opts.dir_mode() {
        sfs::fchmod(dotfd, opts.dir_mode())
            .map_err(|e| TreeError(format!("publish {name}: cannot chmod .{name}: {e}")))?;
    }
    publish_locked(
        name,
        rootfd,
        dotfd,
        current,
        None,
        None,
        entries,
        &opts,
        locked.chown,
    )?;
    Ok(true)
}

/// `mkdir -p` of the root: 0755, owned by whoever makes it.
fn make_root(root: &Path, name: &str) -> Result<(), TreeError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(root)
        .map_err(|e| {
            TreeError(format!(
                "publish {name}: cannot create root {}: {e}",
                root.display()
            ))
        })
}

/// A publish done: the new generation, the other one left (the previous),
/// and whether `.<name>/` holds nothing else; the new generation's stamp.
type Done = (u64, Option<u64>, bool, Stamp);

/// The short way, with what `c` remembers; `None` when it is stale.
fn publish_cached(
    root: &Path,
    name: &str,
    entries: &std::collections::BTreeMap<String, Node>,
    opts: &PublishOpts,
    c: &Cached,
) -> Option<Result<Done, TreeError>> {
    let rootfd = open_root("publish", root).ok()??;
    let rootfd = fd_ref(&rootfd);
    let dotname = c_dot(name);
    let dotfd = sfs::open_dir_at(rootfd, &dotname).ok()?;
    let dotfd = fd_ref(&dotfd);
    let dot = sfs::fstat(dotfd).ok()?;
    if id(&dot) != c.dot_id {
        return None;
    }
    let chown = chown_for(&dot);
    let _lock = match lock_dot("publish", root, name, dotfd, chown) {
        Ok(l) => l,
        Err(e) => return Some(Err(e)),
    };
    // Removed (by a withdraw) between our open and our lock: nlink is 0.
    let nlink = match sfs::fstat(dotfd) {
        Ok(m) if m.nlink > 0 => m.nlink,
        _ => return None,
    };
    let current = match read_link("publish", root, rootfd, name) {
        Ok(Link::Generation(g)) if g == c.generation => g,
        Ok(_) => return None,
        Err(e) => return Some(Err(e)),
    };
    if opts.private != c.private {
        if let Err(e) = sfs::fchmod(dotfd, opts.dir_mode()) {
            return Some(Err(TreeError(format!(
                "publish {name}: cannot lock {}/.{name}: {e}",
                root.display()
            ))));
        }
    }
    // Values are known only if they were written with today's modes.
    let known = c
        .tree
        .as_ref()
        .filter(|_| opts.private == c.private)
        .map(|t| (t, c.stamp));
    // A directory's link count is 2 + its subdirectories: if it is what we
    // left, no generation was added (a leftover `link.tmp`, not a directory,
    // is handled where the link is made). File systems that do not count
    // (btrfs says 1) just always take the listing.
    let gens = match c.prev {
        Some(p) => [Some(p), Some(current)],
        None => [Some(current), None],
    };
    let expected = 2 + gens.iter().flatten().count() as u64;
    let gens = (c.clean && nlink == expected).then_some(&gens[..]);
    Some(publish_locked(
        name,
        rootfd,
        dotfd,
        Some(current),
        gens,
        known,
        entries,
        opts,
        chown,
    ))
}

/// The long way: open and check everything; also what to remember.
fn publish_uncached(
    root: &Path,
    name: &str,
    entries: &std::collections::BTreeMap<String, Node>,
    opts: &PublishOpts,
) -> (Result<Done, TreeError>, Option<Cached>) {
    let r = (|| {
        if open_root("publish", root)?.is_none() {
            make_root(root, name)?;
        }
        let rootfd = open_root("publish", root)?.ok_or_else(|| {
            TreeError(format!("publish {name}: root {} vanished", root.display()))
        })?;
        // Refuse before creating anything if `<name>` is not ours.
        read_link("publish", root, fd_ref(&rootfd), name)?;
        let dotname = c_dot(name);
        let locked =
            lock_service_dir("publish", root, fd_ref(&rootfd), name, &dotname, Some(opts))?;
        Ok((rootfd, locked))
    })();
    let (
        rootfd,
        Locked {
            dot: dotfd, chown, ..
        },
    ) = match r {
        Ok(fds) => fds,
        Err(e) => return (Err(e), None),
    };
    // Under the lock: the link may have moved since we first looked.
    let r = read_link("publish", root, fd_ref(&rootfd), name).and_then(|link| {
        let current = match link {
            Link::Generation(g) => Some(g),
            Link::Absent => None,
        };
        publish_locked(
            name,
            fd_ref(&rootfd),
            fd_ref(&dotfd),
            current,
            None,
            None,
            entries,
            opts,
            chown,
        )
    });
    let cached = match (&r, sfs::fstat(fd_ref(&dotfd))) {
        (Ok((g, prev, clean, st)), Ok(d)) => Some(Cached {
            root: root.to_path_buf(),
            name: name.to_owned(),
            dot_id: id(&d),
            generation: *g,
            prev: *prev,
            clean: *clean,
            private: opts.private,
            tree: None,
            stamp: *st,
        }),
        _ => None,
    };
    (r, cached)
}

/// Steps 4-7 of docs/state-tree.md, with `.<name>/` locked: clean
/// leftovers, build the next generation (hard-linking values equal to those
/// of `current`: known from `known` when given, else compared with the
/// files), flip the link, delete generations older than `current`. `gens`:
/// the generations `.<name>/` is known to hold, nothing else (else it is
/// listed).
#[allow(clippy::too_many_arguments)]
fn publish_locked(
    name: &str,
    rootfd: BorrowedFd,
    dotfd: BorrowedFd,
    current: Option<u64>,
    gens: Option<&[Option<u64>]>,
    known: Option<(&Node, Stamp)>,
    entries: &std::collections::BTreeMap<String, Node>,
    opts: &PublishOpts,
    chown: Option<(u32, u32)>,
) -> Result<Done, TreeError> {
    let fail = |what: &str, e: io::Error| TreeError(format!("publish {name}: {what}: {e}"));
    // Leftovers of a killed publisher go; generations are counted.
    let mut newest = current.unwrap_or(0);
    let listing = match gens {
        Some(gs) => gs
            .iter()
            .flatten()
            .map(|g| (c(itoa(*g).as_str()), Kind::Dir))
            .collect(),
        None => sfs::read_dir(dotfd, MAX_ENTRIES)
            .map_err(|e| fail("cannot list the service directory", e))?,
    };
    for (entry, kind) in &listing {
        match parse_generation(entry.to_bytes()) {
            Some(g) => newest = newest.max(g),
            None if entry.to_bytes() == LOCK_NAME.as_bytes() => {}
            None => remove_entry(dotfd, entry, kind_hint(*kind), 0)
                .map_err(|e| fail("cannot remove a leftover", e))?,
        }
    }
    let next = newest
        .checked_add(1)
        .ok_or_else(|| TreeError(format!("publish {name}: generation numbers exhausted")))?;
    let gen_name = c(itoa(next).as_str());
    // The current generation is opened only when a value may be shared
    // (with `known`, when one is equal): a publish that changes every
    // value never touches it.
    let cur_name = current.map(|g| c(itoa(g).as_str()));
    let mut old = OldDir {
        parent: cur_name.as_ref().map(|_| dotfd),
        name: cur_name.as_deref().unwrap_or_default(),
        stamp: known.map(|(_, st)| st),
        fd: None,
    };
    let known = match known {
        Some((Node::Dir(m), _)) => Some(m),
        _ => None,
    };

    // Built in place, not in a staging directory renamed afterwards (a
    // rename fewer before the flip): nothing follows an unlinked generation.
    // Files stay open until after the flip, so their `close`s do not delay
    // it either (at most `DEFER_CLOSE` of them: bounded fds).
    let mut open_fds = Vec::new();
    let built = (|| {
        let newfd = sfs::mkdir_at(dotfd, &gen_name, opts.dir_mode())
            .or_else(|e| {
                // A killed publisher's, not seen when the listing was
                // skipped: never linked (we hold the lock and the link
                // names `current`), so nobody reads it.
                if errno(&e) != libc::EEXIST {
                    return Err(e);
                }
                remove_entry(dotfd, &gen_name, None, 0)?;
                sfs::mkdir_at(dotfd, &gen_name, opts.dir_mode())
            })
            .and_then(|fd| give(fd, chown))
            .map_err(|e| fail("cannot create the generation directory", e))?;
        let mut path = Vec::new();
        build_dir(
            fd_ref(&newfd),
            &mut old,
            known,
            entries,
            opts,
            chown,
            &mut path,
            &mut open_fds,
        )
        .map_err(|(p, what, e)| fail(&format!("{what} {}", show_path(&p)), e))?;
        Ok(newfd)
    })();
    let newfd = match built {
        Ok(fd) => fd,
        Err(e) => {
            drop(open_fds);
            let _ = remove_entry(dotfd, &gen_name, None, 0);
            return Err(e);
        }
    };
    let mut target = String::with_capacity(name.len() + 24);
    target.push('.');
    target.push_str(name);
    target.push('/');
    target.push_str(gen_name.to_str().unwrap_or_default());
    let target = c(&target);
    let link_tmp = c(LINK_TMP);
    let flipped = sfs::symlink_at(&target, dotfd, &link_tmp)
        .or_else(|e| {
            // A killed publisher's, not seen when the listing was skipped.
            if errno(&e) != libc::EEXIST {
                return Err(e);
            }
            remove_entry(dotfd, &link_tmp, None, 0)?;
            sfs::symlink_at(&target, dotfd, &link_tmp)
        })
        .and_then(|()| match chown {
            Some((u, g)) => sfs::chown_at(dotfd, &link_tmp, u, g),
            None => Ok(()),
        })
        .map_err(|e| fail("cannot create the symlink", e))
        .and_then(|()| {
            sfs::rename_at(dotfd, &link_tmp, rootfd, &c(name))
                .map_err(|e| fail("cannot replace the symlink", e))
        });
    drop(open_fds);
    if let Err(e) = flipped {
        let _ = sfs::unlink_at(dotfd, &link_tmp, false);
        let _ = remove_entry(dotfd, &gen_name, Some(true), 0);
        return Err(e);
    }
    // After the last entry was made in it (which set its change time), and
    // after the flip: nothing here delays subscribers.
    let new_stamp = sfs::fstat(fd_ref(&newfd))
        .map(|m| stamp(&m))
        .unwrap_or_default();
    drop(newfd);
    drop(old);
    // Keep the generation just replaced: a reader may still be in it.
    // Failing to delete is not failing to publish; the next publish retries.
    let mut clean = true;
    let mut prev = None;
    for (entry, kind) in &listing {
        if let Some(g) = parse_generation(entry.to_bytes()) {
            if Some(g) == current {
                prev = current;
            } else if g != next && remove_entry(dotfd, entry, kind_hint(*kind), 0).is_err() {
                clean = false;
            }
        }
    }
    Ok((next, prev, clean, new_stamp))
}

/// A generation number in decimal, without `format!`'s machinery.
fn itoa(mut n: u64) -> String {
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

fn c_dot(name: &str) -> CString {
    c(&dot(name))
}

/// The lock file in `.<name>/`: the publishers (and `withdraw`) of one
/// service take turns on its `flock`. Not `.<name>/` itself: a directory
/// anyone may open is a lock anyone may hold. The file is 0600, owned by
/// the tree's owner: nobody else can open it.
const LOCK_NAME: &str = "lock";

/// The longest wait for the lock of a service (another publisher of it at
/// work); then the operation fails, saying so.
pub const LOCK_WAIT: f64 = 1.0;

/// When root writes into a tree that belongs to another user (an admin's
/// `upd set` on a `:user` service's tree), what it creates is given to that
/// user, so the owner can go on publishing (it must be able to replace its
/// link and files in a sticky root) and the snapshot's owner stays its own.
fn chown_for(dot: &sfs::Meta) -> Option<(u32, u32)> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static EUID: AtomicU32 = AtomicU32::new(u32::MAX);
    if dot.uid == 0 {
        return None;
    }
    let mut e = EUID.load(Ordering::Relaxed);
    if e == u32::MAX {
        e = sfs::geteuid();
        EUID.store(e, Ordering::Relaxed);
    }
    (e == 0).then_some((dot.uid, dot.gid))
}

/// `fd` (just created) given to `chown`'s user, if any.
fn give(fd: OwnedFd, chown: Option<(u32, u32)>) -> io::Result<OwnedFd> {
    if let Some((u, g)) = chown {
        sfs::fchown(fd_ref(&fd), u, g)?;
    }
    Ok(fd)
}

fn lock_error(e: &io::Error) -> String {
    if errno(e) == libc::ETIMEDOUT {
        format!("held by another process for over {LOCK_WAIT} s")
    } else {
        e.to_string()
    }
}

/// Takes the lock of the service whose `.<name>/` is open as `dotfd`,
/// waiting at most `LOCK_WAIT`; held until the returned fd is dropped.
fn lock_dot(
    op: &str,
    root: &Path,
    name: &str,
    dotfd: BorrowedFd,
    chown: Option<(u32, u32)>,
) -> Result<OwnedFd, TreeError> {
    let fail = |e: io::Error| {
        TreeError(format!(
            "{op} {name}: cannot lock {}/.{name}/{LOCK_NAME}: {}",
            root.display(),
            lock_error(&e)
        ))
    };
    let (fd, created) = sfs::open_lock_at(dotfd, &c(LOCK_NAME)).map_err(fail)?;
    let fd = if created {
        give(fd, chown).map_err(fail)?
    } else {
        fd
    };
    sfs::lock_exclusive_within(fd_ref(&fd), LOCK_WAIT).map_err(fail)?;
    Ok(fd)
}

/// `.<name>/` open and its lock held.
struct Locked {
    dot: OwnedFd,
    _lock: OwnedFd,
    meta: sfs::Meta,
    chown: Option<(u32, u32)>,
}

/// Creates (if needed) and locks `.<name>/`, retrying if a withdraw removed
/// it between the open and the lock. With `opts`, its mode is set to theirs.
fn lock_service_dir(
    op: &str,
    root: &Path,
    rootfd: BorrowedFd,
    name: &str,
    dotname: &CStr,
    opts: Option<&PublishOpts>,
) -> Result<Locked, TreeError> {
    let refuse = |e: io::Error| {
        TreeError(format!(
            "{op} {name}: refusing {}/.{name}: not a directory made by upd ({e})",
            root.display()
        ))
    };
    let mode = opts.copied().unwrap_or_default().dir_mode();
    for _ in 0..READ_ATTEMPTS {
        let fd = match sfs::mkdir_at(rootfd, dotname, mode) {
            Ok(fd) => fd,
            Err(e) if errno(&e) == libc::EEXIST => {
                sfs::open_dir_at(rootfd, dotname).map_err(refuse)?
            }
            Err(e) => {
                return Err(TreeError(format!(
                    "{op} {name}: cannot create {}/.{name}: {e}",
                    root.display()
                )))
            }
        };
        let fail = |e: io::Error| {
            TreeError(format!(
                "{op} {name}: cannot lock {}/.{name}: {e}",
                root.display()
            ))
        };
        let mine = sfs::fstat(fd_ref(&fd)).map_err(fail)?;
        let chown = chown_for(&mine);
        let lock = lock_dot(op, root, name, fd_ref(&fd), chown)?;
        match sfs::stat_at(rootfd, dotname) {
            Ok(m) if m.ino == mine.ino && m.dev == mine.dev => {
                if opts.is_some() && mine.perm != mode {
                    sfs::fchmod(fd_ref(&fd), mode).map_err(fail)?;
                }
                return Ok(Locked {
                    dot: fd,
                    _lock: lock,
                    meta: mine,
                    chown,
                });
            }
            _ => continue, // withdrawn while we waited: start again
        }
    }
    Err(TreeError(format!(
        "{op} {name}: {}/.{name} keeps disappearing",
        root.display()
    )))
}

fn kind_hint(k: Kind) -> Option<bool> {
    match k {
        Kind::Dir => Some(true),
        Kind::File | Kind::Symlink => Some(false),
        Kind::Other => None,
    }
}

type BuildErr<'a> = (Vec<&'a str>, &'static str, io::Error);

/// Files and directories of a new generation whose `close` waits until
/// after the flip; beyond this many they are closed at once.
const DEFER_CLOSE: usize = 16;

/// A directory of the current generation, opened on first use. At the top
/// (`stamp` given) it is used only if it is still the directory this
/// process renamed into place (see `Cached::stamp`).
struct OldDir<'p> {
    parent: Option<BorrowedFd<'p>>,
    name: &'p CStr,
    stamp: Option<Stamp>,
    fd: Option<Option<OwnedFd>>,
}

impl OldDir<'_> {
    fn get(&mut self) -> Option<BorrowedFd<'_>> {
        if self.fd.is_none() {
            let fd = self
                .parent
                .and_then(|p| sfs::open_dir_at(p, self.name).ok());
            let fd = fd.filter(|fd| match self.stamp {
                Some(st) => matches!(sfs::fstat(fd_ref(fd)), Ok(m) if stamp(&m) == st),
                None => true,
            });
            self.fd = Some(fd);
        }
        self.fd.as_ref().and_then(|f| f.as_ref()).map(fd_ref)
    }
}

/// Writes `entries` into `newfd`. A value equal to the one at the same path
/// of the current generation (`old`) is hard-linked: equal per `known`
/// (what this process wrote there) when given, else per the file's bytes.
fn build_dir<'a>(
    newfd: BorrowedFd,
    old: &mut OldDir,
    known: Option<&std::collections::BTreeMap<String, Node>>,
    entries: &'a std::collections::BTreeMap<String, Node>,
    opts: &PublishOpts,
    chown: Option<(u32, u32)>,
    path: &mut Vec<&'a str>,
    open_fds: &mut Vec<OwnedFd>,
) -> Result<(), BuildErr<'a>> {
    for (k, node) in entries {
        path.push(k);
        let ck = c(k);
        match node {
            Node::Value(v) => {
                let linked = match known {
                    Some(m) => match m.get(k) {
                        Some(Node::Value(o)) if o == v => match old.get() {
                            Some(o) => sfs::link_at(o, &ck, newfd, &ck).is_ok(),
                            None => false,
                        },
                        _ => false,
                    },
                    None => match old.get() {
                        Some(o) if same_value(o, &ck, v, opts.file_mode()) => {
                            sfs::link_at(o, &ck, newfd, &ck).is_ok()
                        }
                        _ => false,
                    },
                };
                if !linked {
                    let f = sfs::create_file_at(newfd, &ck, opts.file_mode())
                        .and_then(|f| give(f, chown))
                        .map_err(|e| (path.clone(), "cannot create", e))?;
                    sfs::write2(fd_ref(&f), v, b"\n")
                        .map_err(|e| (path.clone(), "cannot write", e))?;
                    defer_close(open_fds, f);
                }
            }
            Node::Dir(m) => {
                let sub = sfs::mkdir_at(newfd, &ck, opts.dir_mode())
                    .and_then(|f| give(f, chown))
                    .map_err(|e| (path.clone(), "cannot create", e))?;
                // With `known`, look into the old directory only if it has
                // values to share.
                let subknown = match known {
                    Some(km) => match km.get(k) {
                        Some(Node::Dir(om)) if !om.is_empty() => Some(Some(om)),
                        _ => None,
                    },
                    None => Some(None),
                };
                let mut oldsub = OldDir {
                    parent: subknown.and_then(|_| old.get()),
                    name: &ck,
                    stamp: None,
                    fd: None,
                };
                build_dir(
                    fd_ref(&sub),
                    &mut oldsub,
                    subknown.flatten(),
                    m,
                    opts,
                    chown,
                    path,
                    open_fds,
                )?;
                defer_close(open_fds, sub);
            }
        }
        path.pop();
    }
    Ok(())
}

/// Whether `dir/name` is a regular file holding exactly `value` + "\n" with
/// permission bits `perm` (then it can be hard-linked instead of rewritten).
fn same_value(dir: BorrowedFd, name: &CStr, value: &[u8], perm: u32) -> bool {
    let want = value.len() as u64 + 1;
    match sfs::stat_at(dir, name) {
        Ok(m) if m.kind == Kind::File && m.perm == perm && m.size == want => {}
        _ => return false,
    }
    let Ok(fd) = sfs::open_file_at(dir, name) else {
        return false;
    };
    match sfs::fstat(fd_ref(&fd)) {
        Ok(m) if m.kind == Kind::File && m.size == want => {}
        _ => return false,
    }
    let mut f = File::from(fd);
    let mut buf = [0u8; 4096];
    let mut at = 0usize;
    let expected = |i: usize| if i < value.len() { value[i] } else { b'\n' };
    loop {
        match f.read(&mut buf) {
            Ok(0) => return at as u64 == want,
            Ok(n) => {
                if at + n > want as usize || (0..n).any(|i| buf[i] != expected(at + i)) {
                    return false;
                }
                at += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Removes `name` in `dir` and everything below it without following any
/// symlink. `is_dir`: what the caller knows of its kind (`None`: look).
fn remove_entry(
    dir: BorrowedFd,
    name: &CStr,
    is_dir: Option<bool>,
    depth: usize,
) -> io::Result<()> {
    let is_dir = match is_dir {
        Some(d) => d,
        None => match sfs::stat_at(dir, name) {
            Ok(m) => m.kind == Kind::Dir,
            Err(e) if errno(&e) == libc::ENOENT => return Ok(()),
            Err(e) => return Err(e),
        },
    };
    let r = if is_dir {
        if depth > 2 * MAX_DEPTH {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let sub = match sfs::open_dir_at(dir, name) {
            Ok(fd) => fd,
            Err(e) if errno(&e) == libc::ENOENT => return Ok(()),
            // Not a directory after all (replaced under us): unlink it.
            Err(e) if errno(&e) == libc::ENOTDIR || errno(&e) == libc::ELOOP => {
                return remove_entry(dir, name, Some(false), depth)
            }
            Err(e) => return Err(e),
        };
        // In batches, so a huge planted directory costs bounded memory. A
        // short batch was the whole rest: try the rmdir without listing
        // again (if something appeared meanwhile, it says so: list again).
        const BATCH: usize = 256;
        let mut fresh = true;
        loop {
            let batch = if fresh {
                sfs::read_dir_some_fresh(fd_ref(&sub), BATCH)?
            } else {
                sfs::read_dir_some(fd_ref(&sub), BATCH)?
            };
            fresh = false;
            for (n, k) in &batch {
                remove_entry(fd_ref(&sub), n, kind_hint(*k), depth + 1)?;
            }
            if batch.len() < BATCH {
                match sfs::unlink_at(dir, name, true) {
                    Err(e) if errno(&e) == libc::ENOTEMPTY || errno(&e) == libc::EEXIST => continue,
                    r => break r,
                }
            }
        }
    } else {
        sfs::unlink_at(dir, name, false)
    };
    match r {
        Err(e) if errno(&e) == libc::ENOENT => Ok(()),
        r => r,
    }
}

// ---------------------------------------------------------------- withdraw

/// Removes service `name`'s tree: first the symlink `<name>` (the atomic
/// "gone"), then `.<name>/` and everything below it. `Ok(false)` if it was
/// not published. Refuses (touching nothing) if `<name>` or `.<name>` is
/// not what upd makes.
pub fn withdraw(root: &Path, name: &str) -> Result<bool, TreeError> {
    check_name("withdraw", name)?;
    forget_cached(root, name);
    let Some(rootfd) = open_root("withdraw", root)? else {
        return Ok(false);
    };
    let rootfd = fd_ref(&rootfd);
    let link = read_link("withdraw", root, rootfd, name)?;
    let dotname = c(&dot(name));
    let dotfd = match sfs::open_dir_at(rootfd, &dotname) {
        Ok(fd) => Some(fd),
        Err(e) if errno(&e) == libc::ENOENT => None,
        Err(e) => {
            return Err(TreeError(format!(
                "withdraw {name}: refusing {}/.{name}: not a directory made by upd ({e})",
                root.display()
            )))
        }
    };
    let fail = |what: &str, e: io::Error| TreeError(format!("withdraw {name}: {what}: {e}"));
    let _lock = match &dotfd {
        Some(fd) => {
            let chown = sfs::fstat(fd_ref(fd)).ok().and_then(|m| chown_for(&m));
            Some(lock_dot("withdraw", root, name, fd_ref(fd), chown)?)
        }
        None => None,
    };
    // Under the lock: a publisher may have linked it since we looked.
    let link = match dotfd {
        Some(_) => read_link("withdraw", root, rootfd, name)?,
        None => link,
    };
    let published = matches!(link, Link::Generation(_));
    if published {
        match sfs::unlink_at(rootfd, &c(name), false) {
            Err(e) if errno(&e) != libc::ENOENT => {
                return Err(fail("cannot remove the symlink", e))
            }
            _ => {}
        }
    }
    if dotfd.is_some() {
        remove_entry(rootfd, &dotname, Some(true), 0)
            .map_err(|e| fail("cannot remove the snapshots", e))?;
    }
    Ok(published)
}

// ---------------------------------------------------------------- owners

/// Gives service `name` to user `uid`/`gid` before it runs: whatever is
/// published under the name is withdrawn (it is stale, or a squatter's),
/// and a fresh `.<name>/` (0755, 0700 when private) owned by them is made.
/// Only that user (and root) can then make generations in it, so a
/// snapshot's owner is who wrote it. The supervisor does this for each
/// service it starts.
pub fn claim(root: &Path, name: &str, uid: u32, gid: u32, private: bool) -> Result<(), TreeError> {
    check_name("claim", name)?;
    let opts = PublishOpts { private };
    for _ in 0..READ_ATTEMPTS {
        withdraw(root, name).map_err(|e| TreeError(format!("claim {name}: {}", e.0)))?;
        let rootfd = match open_root("claim", root)? {
            Some(fd) => fd,
            None => {
                make_root(root, name)?;
                open_root("claim", root)?.ok_or_else(|| {
                    TreeError(format!("claim {name}: root {} vanished", root.display()))
                })?
            }
        };
        match sfs::mkdir_at(fd_ref(&rootfd), &c_dot(name), opts.dir_mode()) {
            Ok(fd) => {
                let m =
                    sfs::fstat(fd_ref(&fd)).map_err(|e| TreeError(format!("claim {name}: {e}")))?;
                if (m.uid, m.gid) != (uid, gid) {
                    sfs::fchown(fd_ref(&fd), uid, gid).map_err(|e| {
                        TreeError(format!(
                            "claim {name}: cannot give .{name} to uid {uid}: {e}"
                        ))
                    })?;
                }
                return Ok(());
            }
            // made by someone else since the withdraw: withdraw again
            Err(e) if errno(&e) == libc::EEXIST => continue,
            Err(e) => {
                return Err(TreeError(format!(
                    "claim {name}: cannot create {}/.{name}: {e}",
                    root.display()
                )))
            }
        }
    }
    Err(TreeError(format!(
        "claim {name}: {}/.{name} keeps being made by someone else",
        root.display()
    )))
}

/// Takes the supervisor's lock, `$UPD_ROOT/.supervisor` (0600, ours): held
/// while the returned fd is open, released by the kernel when the holder
/// dies, so a supervisor killed with SIGKILL never blocks the next one (no
/// pid file to trust). Waits at most `LOCK_WAIT`. A `.supervisor` that is
/// not ours (made by a user who may write the root) is replaced: a file
/// someone else can open is a lock someone else can hold.
pub fn lock_root(root: &Path) -> Result<OwnedFd, TreeError> {
    let rootfd = match open_root("lock", root)? {
        Some(fd) => fd,
        None => {
            make_root(root, "upd")?;
            open_root("lock", root)?
                .ok_or_else(|| TreeError(format!("root {} vanished", root.display())))?
        }
    };
    let name = c(".supervisor");
    let fail = |e: io::Error| {
        TreeError(format!(
            "cannot lock {}/.supervisor: {}",
            root.display(),
            if errno(&e) == libc::ETIMEDOUT {
                "another supervisor holds it".to_string()
            } else {
                e.to_string()
            }
        ))
    };
    for _ in 0..READ_ATTEMPTS {
        let (fd, _) = sfs::open_lock_at(fd_ref(&rootfd), &name).map_err(fail)?;
        let m = sfs::fstat(fd_ref(&fd)).map_err(fail)?;
        if m.uid != sfs::geteuid() || m.kind != Kind::File {
            drop(fd);
            match sfs::unlink_at(fd_ref(&rootfd), &name, false) {
                Err(e) if errno(&e) != libc::ENOENT => return Err(fail(e)),
                _ => continue,
            }
        }
        sfs::lock_exclusive_within(fd_ref(&fd), LOCK_WAIT).map_err(fail)?;
        return Ok(fd);
    }
    Err(TreeError(format!(
        "cannot lock {}/.supervisor: it keeps being replaced",
        root.display()
    )))
}

/// Who wrote service `name`'s current snapshot: the uid owning its
/// generation directory (only the owner of `.<name>/`, or root acting for
/// it, can make one); `None` when it is not published.
pub fn owner(root: &Path, name: &str) -> Result<Option<u32>, TreeError> {
    check_name("owner", name)?;
    let Some(rootfd) = open_root("owner", root)? else {
        return Ok(None);
    };
    let g = match read_link("owner", root, fd_ref(&rootfd), name)? {
        Link::Absent => return Ok(None),
        Link::Generation(g) => g,
    };
    let fail = |e: io::Error| TreeError(format!("owner {name}: {e}"));
    let dot = sfs::open_dir_at(fd_ref(&rootfd), &c_dot(name)).map_err(fail)?;
    let gen = sfs::open_dir_at(fd_ref(&dot), &c(itoa(g).as_str())).map_err(fail)?;
    Ok(Some(sfs::fstat(fd_ref(&gen)).map_err(fail)?.uid))
}

/// What `prepare_root` did.
pub struct RootMode {
    /// The group whose members may publish (the root is sticky and
    /// group-writable for it), if any.
    pub publishers: Option<u32>,
    /// What was changed, for the log (empty when nothing was).
    pub notes: String,
}

/// Makes the root safe to share before a supervisor starts: created 0755 if
/// missing; never world-writable (anyone could then put any tree there);
/// sticky whenever group-writable (a publisher can then replace and remove
/// only its own entries). With `group`, a root that no group may write yet
/// is given to that group, mode 1775, so `:user` services can publish.
pub fn prepare_root(root: &Path, group: Option<u32>) -> Result<RootMode, TreeError> {
    let fail = |e: io::Error| TreeError(format!("root {}: {e}", root.display()));
    if open_root("root", root)?.is_none() {
        make_root(root, "upd")?;
    }
    let p = sfs::cstr(root.as_os_str().as_bytes()).map_err(fail)?;
    let m = sfs::stat_path(&p).map_err(fail)?;
    // Group 0 is never the publishers' group either: every `:user` script
    // would be given it.
    let mut mode = m.perm & if m.gid == 0 { !0o022 } else { !0o002 };
    let mut gid = m.gid;
    if mode & 0o020 == 0 {
        if let Some(g) = group {
            sfs::chown_path(&p, u32::MAX, g).map_err(fail)?;
            gid = g;
            mode |= 0o070;
        }
    }
    if mode & 0o020 != 0 {
        mode |= 0o1000;
    }
    let mut notes = String::new();
    if mode != m.perm {
        sfs::chmod_path(&p, mode).map_err(fail)?;
        notes = format!(
            "mode {:o} made {mode:o} (group {gid}; never world-writable, sticky when group-writable)",
            m.perm
        );
    }
    Ok(RootMode {
        publishers: (mode & 0o020 != 0).then_some(gid),
        notes,
    })
}

// ---------------------------------------------------------------- list

/// Sorted names of the services published now: entries of the root that
/// are symlinks of the form `.<name>/<digits>`.
pub fn list(root: &Path) -> Result<Vec<String>, TreeError> {
    let Some(rootfd) = open_root("list", root)? else {
        return Ok(Vec::new());
    };
    let rootfd = fd_ref(&rootfd);
    let entries = sfs::read_dir(rootfd, 4 * MAX_ENTRIES)
        .map_err(|e| TreeError(format!("list: cannot read {}: {e}", root.display())))?;
    let mut names: Vec<String> = entries
        .into_iter()
        .filter(|(n, k)| *k == Kind::Symlink && key::validate_name(n.to_bytes()).is_ok())
        .filter_map(|(n, _)| {
            let name = std::str::from_utf8(n.to_bytes()).ok()?.to_owned();
            let t = sfs::readlink_at(rootfd, &n).ok()?;
            parse_link(&name, &t).map(|_| name)
        })
        .collect();
    names.sort_unstable();
    Ok(names)
}

// ---------------------------------------------------------------- read

/// Reads service `name`'s current snapshot; `None` when it is not published.
pub fn read(root: &Path, name: &str) -> Result<Option<Node>, TreeError> {
    read_path(root, name, &[])
}

enum ReadErr {
    /// Part of the generation disappeared: start over from the symlink.
    Vanished,
    Fail(String),
}

struct Budget<'c> {
    entries: usize,
    bytes: usize,
    /// Where the fds of values read go (see `read_at`).
    closing: &'c mut Vec<OwnedFd>,
}

/// Reads the node at key path `path` (already split, each a key) of service
/// `name`; `None` when the service or the path is absent. Bounded: at most
/// `MAX_ENTRIES` entries and `MAX_BYTES` value bytes, else an error.
pub fn read_path(root: &Path, name: &str, path: &[&str]) -> Result<Option<Node>, TreeError> {
    check_name("read", name)?;
    for k in path {
        key::validate_key(k.as_bytes()).map_err(|e| {
            TreeError(format!(
                "read {name}: bad key {} in path: {e}",
                show(k.as_bytes())
            ))
        })?;
    }
    let Some(rootfd) = open_root("read", root)? else {
        return Ok(None);
    };
    read_open(
        root,
        fd_ref(&rootfd),
        name,
        path,
        &mut None,
        &mut Vec::new(),
        &mut None,
    )
}

/// A reader that reads the same services again and again (a subscriber)
/// keeps the root open (`rootfd`, opened from `root`, which only names it
/// in messages) and `.<name>/` too (`dot`, filled in here): two `open`s and
/// two `close`s fewer per read. A `dot` kept from an earlier read may be a
/// `.<name>/` removed since (a withdraw): no generation opens in it, and it
/// is opened afresh. The fds of what was read are moved to `closing` (up to
/// `DEFER_CLOSE` in all) instead of closed: the caller drops them once the
/// snapshot has been acted upon, and the `close`s do not delay that.
/// `name` must be valid (a subscription checks it once, when made).
/// `owner` is set to the uid that owns the generation read (who wrote it:
/// only the owner of `.<name>/`, or root acting for it, can make one).
pub fn read_at(
    root: &Path,
    rootfd: BorrowedFd,
    name: &str,
    dot: &mut Option<OwnedFd>,
    closing: &mut Vec<OwnedFd>,
    owner: &mut Option<u32>,
) -> Result<Option<Node>, TreeError> {
    read_open(root, rootfd, name, &[], dot, closing, owner)
}

/// Keeps `fd` for a later `close` if `closing` has room, else closes it now.
fn defer_close(closing: &mut Vec<OwnedFd>, fd: OwnedFd) {
    if closing.len() < DEFER_CLOSE {
        closing.push(fd);
    }
}

/// `read_at` of `path` (its keys checked).
fn read_open(
    root: &Path,
    rootfd: BorrowedFd,
    name: &str,
    path: &[&str],
    dot: &mut Option<OwnedFd>,
    closing: &mut Vec<OwnedFd>,
    owner: &mut Option<u32>,
) -> Result<Option<Node>, TreeError> {
    let mut last = 0;
    *owner = None;
    for _ in 0..READ_ATTEMPTS {
        let generation = match read_link("read", root, rootfd, name)? {
            Link::Absent => return Ok(None),
            Link::Generation(g) => g,
        };
        last = generation;
        let genfd = match open_generation(rootfd, name, dot, generation) {
            Ok(fd) => fd,
            Err(ReadErr::Fail(m)) => return Err(TreeError(format!("read {name}: {m}"))),
            Err(ReadErr::Vanished) => match read_link("read", root, rootfd, name)? {
                Link::Generation(g) if g == generation => {
                    return Err(TreeError(format!(
                        "read {name}: {}/{name} points to .{name}/{g}, which does not exist",
                        root.display()
                    )))
                }
                _ => continue,
            },
        };
        let result = read_in(fd_ref(&genfd), path, closing);
        let uid = still_linked(root, rootfd, name, generation, fd_ref(&genfd))?;
        let whole = uid.is_some();
        defer_close(closing, genfd);
        *owner = uid;
        match result {
            Ok(n) if whole => return Ok(n),
            Err(ReadErr::Fail(m)) => return Err(TreeError(format!("read {name}: {m}"))),
            // Gone from a generation that was intact: a genuine absence.
            Err(ReadErr::Vanished) if whole => return Ok(None),
            // Possibly torn: read it again from the new link.
            _ => continue,
        }
    }
    Err(TreeError(format!(
        "read {name}: the snapshot changed under the reader {READ_ATTEMPTS} times (last .{name}/{last})"
    )))
}

/// Whether generation `g` (open as `genfd`) was whole during the whole read
/// that just ended: then its owner's uid. Deleted entries are not always an `ENOENT` for the
/// reader (a directory being emptied just lists fewer entries), hence this
/// check after each read. A generation never changes once linked, and a
/// generation directory is never renamed once it has its number; it is
/// deleted only
/// - by the publish that links the one after next (`g + 2`): then the link
///   names `g + 2` or later, so the first test fails; or it names `g` or
///   `g + 1` again only after a withdraw and fresh publishes, and then:
/// - by a withdraw, which removes all of `.<name>/`, `g` included, while it
///   holds `.<name>/`'s lock; a publisher waiting for that lock starts
///   again in a new `.<name>/` once it has it (`lock_service_dir`). So no
///   link to a new generation `g` or `g + 1` exists before our `g` is
///   removed, and a removed directory has no links left: `fstat` says
///   `st_nlink == 0` (the second test). Comparing inodes through `.<name>/`
///   is not needed: an `fstat` of what we read tells it directly;
/// - by a publish cleaning up generations other than its new and current
///   one: `g` was then not current when that publish locked, i.e. the link
///   had already moved past it (first test), or `g` was a leftover never
///   linked (not one a reader follows).
///
/// A withdraw killed half-way through removing `.<name>/`, a publish killed
/// half-way through deleting `g`, and a new publish reaching `g + 1` in what
/// is left could pass both tests with `g` torn; comparing inodes would not
/// see it either.
fn still_linked(
    root: &Path,
    rootfd: BorrowedFd,
    name: &str,
    g: u64,
    genfd: BorrowedFd,
) -> Result<Option<u32>, TreeError> {
    match read_link("read", root, rootfd, name)? {
        Link::Generation(now) if now == g || now == g.saturating_add(1) => {}
        _ => return Ok(None),
    }
    Ok(match sfs::fstat(genfd) {
        Ok(m) if m.nlink > 0 => Some(m.uid),
        _ => None,
    })
}

fn io_read(e: io::Error, path: &[&str], what: &str) -> ReadErr {
    if errno(&e) == libc::ENOENT {
        ReadErr::Vanished
    } else {
        ReadErr::Fail(format!("{what} {}: {e}", show_path(path)))
    }
}

/// Opens generation `generation` in `.<name>/`, through `dot` when it holds
/// `.<name>/` from an earlier read (if that fails, `dot` may be one that a
/// withdraw removed: it is opened afresh), else opening it into `dot`.
fn open_generation(
    rootfd: BorrowedFd,
    name: &str,
    dot: &mut Option<OwnedFd>,
    generation: u64,
) -> Result<OwnedFd, ReadErr> {
    let gname = c(itoa(generation).as_str());
    if let Some(d) = dot.as_ref() {
        if let Ok(fd) = sfs::open_dir_at(fd_ref(d), &gname) {
            return Ok(fd);
        }
        *dot = None;
    }
    let d = sfs::open_dir_at(rootfd, &c_dot(name)).map_err(|e| io_read(e, &[], "cannot open"))?;
    let fd = sfs::open_dir_at(fd_ref(&d), &gname)
        .map_err(|e| io_read(e, &[], "cannot open generation"))?;
    *dot = Some(d);
    Ok(fd)
}

/// Reads the node at `path` in the generation open as `genfd`.
fn read_in(
    genfd: BorrowedFd,
    path: &[&str],
    closing: &mut Vec<OwnedFd>,
) -> Result<Option<Node>, ReadErr> {
    let mut budget = Budget {
        entries: 0,
        bytes: 0,
        closing,
    };
    let Some((last, parents)) = path.split_last() else {
        return read_dir_node(genfd, &[], &mut budget).map(Some);
    };
    // Walk down to the parent of the requested node.
    let mut opened: Option<OwnedFd> = None;
    let mut walked: Vec<&str> = Vec::new();
    for k in parents {
        walked.push(k);
        let dir = opened.as_ref().map(fd_ref).unwrap_or(genfd);
        opened = match sfs::open_dir_at(dir, &c(k)) {
            Ok(fd) => Some(fd),
            // A value where a directory was asked for: the path is absent.
            // (A symlink can also say ENOTDIR here: that one is refused.)
            Err(e) if errno(&e) == libc::ENOTDIR => match sfs::stat_at(dir, &c(k)) {
                Ok(m) if m.kind == Kind::File => return Ok(None),
                Ok(m) if m.kind == Kind::Symlink => {
                    return Err(ReadErr::Fail(format!(
                        "refusing the symlink at {} (upd never makes one)",
                        show_path(&walked)
                    )))
                }
                Ok(_) => {
                    return Err(ReadErr::Fail(format!(
                        "refusing {}: not a file or directory",
                        show_path(&walked)
                    )))
                }
                Err(e) => return Err(io_read(e, &walked, "cannot stat")),
            },
            Err(e) => return Err(io_read(e, &walked, "cannot open")),
        };
    }
    walked.push(last);
    let dir = opened.as_ref().map(fd_ref).unwrap_or(genfd);
    read_entry(dir, last, None, &walked, &mut budget).map(Some)
}

/// Reads entry `k` of `dir`; `path` is its key path (ending in `k`).
fn read_entry(
    dir: BorrowedFd,
    k: &str,
    kind: Option<Kind>,
    path: &[&str],
    budget: &mut Budget,
) -> Result<Node, ReadErr> {
    if path.len() > MAX_DEPTH {
        return Err(ReadErr::Fail(format!(
            "nested deeper than {MAX_DEPTH} at {}",
            show_path(path)
        )));
    }
    let ck = c(k);
    let kind = match kind {
        Some(Kind::File) => Kind::File,
        Some(Kind::Dir) => Kind::Dir,
        _ => {
            sfs::stat_at(dir, &ck)
                .map_err(|e| io_read(e, path, "cannot stat"))?
                .kind
        }
    };
    match kind {
        Kind::File => read_value(dir, &ck, path, budget).map(Node::Value),
        Kind::Dir => {
            let sub = sfs::open_dir_at(dir, &ck).map_err(|e| io_read(e, path, "cannot open"))?;
            read_dir_node(fd_ref(&sub), path, budget)
        }
        Kind::Symlink => Err(ReadErr::Fail(format!(
            "refusing the symlink at {} (upd never makes one)",
            show_path(path)
        ))),
        Kind::Other => Err(ReadErr::Fail(format!(
            "refusing {}: not a file or directory",
            show_path(path)
        ))),
    }
}

fn read_dir_node(dir: BorrowedFd, path: &[&str], budget: &mut Budget) -> Result<Node, ReadErr> {
    let room = MAX_ENTRIES.saturating_sub(budget.entries);
    let entries = sfs::read_dir_fresh(dir, room).map_err(|e| {
        if errno(&e) == libc::EFBIG {
            ReadErr::Fail(format!("more than {MAX_ENTRIES} entries"))
        } else {
            io_read(e, path, "cannot list")
        }
    })?;
    budget.entries += entries.len();
    let mut map = std::collections::BTreeMap::new();
    for (n, kind) in entries {
        let k = match std::str::from_utf8(n.to_bytes()) {
            Ok(k) if key::validate_key(k.as_bytes()).is_ok() => k.to_owned(),
            _ => {
                return Err(ReadErr::Fail(format!(
                    "unexpected entry {} at {}",
                    show(n.to_bytes()),
                    show_path(path)
                )))
            }
        };
        let node = {
            let mut sub: Vec<&str> = path.to_vec();
            sub.push(&k);
            read_entry(dir, &k, Some(kind), &sub, budget)?
        };
        map.insert(k, node);
    }
    Ok(Node::Dir(map))
}

fn read_value(
    dir: BorrowedFd,
    name: &CStr,
    path: &[&str],
    budget: &mut Budget,
) -> Result<Vec<u8>, ReadErr> {
    let owned = sfs::open_file_at(dir, name).map_err(|e| io_read(e, path, "cannot open"))?;
    let fd = fd_ref(&owned);
    // The listing (or `lstat`) said regular file; a linked generation never
    // changes, so one `read` shorter than the buffer is the whole value: no
    // `fstat` for its size and no second `read` to see the end. A special
    // file planted after the listing is opened `O_NONBLOCK` (it cannot stall
    // us) and can only give bytes, which whoever can plant it could as well
    // have put in a regular file.
    let mut small = [0u8; 4096];
    let got = sfs::read_once(fd, &mut small).map_err(|e| io_read(e, path, "cannot read"))?;
    let mut v = if got < small.len() {
        small[..got].to_vec()
    } else {
        // Its size (the kind was the listing's, as above).
        let m = sfs::fstat(fd).map_err(|e| io_read(e, path, "cannot stat"))?;
        // The value and its newline.
        if m.size > MAX_VALUE as u64 + 1 {
            return Err(ReadErr::Fail(format!(
                "value at {} is larger than {MAX_VALUE} bytes",
                show_path(path)
            )));
        }
        let mut v = vec![0u8; (m.size as usize).max(got)];
        v[..got].copy_from_slice(&small);
        let n = sfs::read_full(fd, &mut v[got..]).map_err(|e| io_read(e, path, "cannot read"))?;
        v.truncate(got + n);
        v
    };
    if v.last() == Some(&b'\n') {
        v.pop();
    }
    defer_close(budget.closing, owned);
    budget.bytes += v.len();
    if budget.bytes > MAX_BYTES {
        return Err(ReadErr::Fail(format!(
            "more than {MAX_BYTES} bytes of values"
        )));
    }
    Ok(v)
}

// ---------------------------------------------------------------- write_file

/// Writes an ordinary file atomically: a temporary file in the same
/// directory, `fsync`, `rename` over `path`, then `fsync` of the directory.
/// `mode` is set exactly (not masked by the umask).
pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), TreeError> {
    let fail =
        |what: &str, e: io::Error| TreeError(format!("write-file {}: {what}: {e}", path.display()));
    let file_name = path
        .file_name()
        .ok_or_else(|| TreeError(format!("write-file {}: not a file path", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dirfd =
        sfs::open_dir(&sfs::cstr(dir.as_os_str().as_bytes()).map_err(|e| fail("bad path", e))?)
            .map_err(|e| fail("cannot open the directory", e))?;
    let dirfd = fd_ref(&dirfd);
    let mut tmp_name = Vec::with_capacity(file_name.len() + 24);
    tmp_name.push(b'.');
    tmp_name.extend_from_slice(file_name.as_bytes());
    tmp_name.extend_from_slice(format!(".{}.tmp", std::process::id()).as_bytes());
    let tmp = sfs::cstr(&tmp_name).map_err(|e| fail("bad path", e))?;
    let target = sfs::cstr(file_name.as_bytes()).map_err(|e| fail("bad path", e))?;
    // A leftover of this pid (an earlier crash of a process with our pid) goes.
    let _ = sfs::unlink_at(dirfd, &tmp, false);
    let r = (|| {
        let fd = sfs::create_file_at(dirfd, &tmp, mode & 0o7777)
            .map_err(|e| fail("cannot create a temporary file", e))?;
        let mut f = File::from(fd);
        f.write_all(content).map_err(|e| fail("cannot write", e))?;
        f.sync_all().map_err(|e| fail("cannot sync", e))?;
        drop(f);
        sfs::rename_at(dirfd, &tmp, dirfd, &target).map_err(|e| fail("cannot rename", e))
    })();
    if r.is_err() {
        let _ = sfs::unlink_at(dirfd, &tmp, false);
        return r;
    }
    // The rename itself durable; failing here does not undo the write.
    let _ = sfs::open_dir_at(dirfd, &c(".")).map(|d| File::from(d).sync_all());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn a_stale_cache_is_not_trusted() {
        let root = tmp("stale");
        let a = tree(&[("x", "1"), ("y", "1")]);
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), 1);
        // Another publisher changes x: our memory of generation 1 is stale
        // (the link no longer names it), so x must not be linked as "1".
        elsewhere(&root, |r| {
            publish(r, "s", &tree(&[("x", "2"), ("y", "1")]), &PUBLIC).unwrap();
        });
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), 3);
        assert_eq!(read(&root, "s").unwrap(), Some(a.clone()));
        // A withdraw and fresh publishes elsewhere reach generation 3 again,
        // in a new `.s`: our memory of "generation 3" is of the old one.
        let b = tree(&[("x", "9"), ("y", "9")]);
        elsewhere(&root, |r| {
            assert!(withdraw(r, "s").unwrap());
            for g in 1..=3 {
                assert_eq!(publish(r, "s", &b, &PUBLIC).unwrap(), g);
            }
        });
        let c = tree(&[("x", "1"), ("y", "9")]);
        assert_eq!(publish(&root, "s", &c, &PUBLIC).unwrap(), 4);
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
        assert_eq!(publish(&root, "s", &a, &PUBLIC).unwrap(), 3);
        assert_eq!(read(&root, "s").unwrap(), Some(a.clone()));
        // A staging directory left behind is seen (the link count changed).
        std::fs::create_dir_all(root.join(".s/4.tmp/d")).unwrap();
        assert_eq!(publish(&root, "s", &b, &PUBLIC).unwrap(), 4);
        let mut left: Vec<_> = std::fs::read_dir(root.join(".s"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != LOCK_NAME)
            .collect();
        left.sort();
        assert_eq!(left, vec!["3", "4"]);
        // The root replaced under a publisher that remembers it.
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(publish(&root, "s", &b, &PUBLIC).unwrap(), 1);
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
            assert_eq!(publish(r, "s", &b, &PUBLIC).unwrap(), 1);
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
        assert_eq!(publish(&root, "s", &c, &PUBLIC).unwrap(), 4);
        assert_eq!(read(&root, "s").unwrap(), Some(c));
        assert_eq!(list(&root), vec!["2", "4"]);
        // Not seen (the link count is what we left: the previous generation
        // went meanwhile): the next number is taken, the leftover replaced.
        std::fs::remove_dir_all(root.join(".s/2")).unwrap();
        plant(&root, "5");
        let d = tree(&[("x", "4")]);
        assert_eq!(publish(&root, "s", &d, &PUBLIC).unwrap(), 5);
        assert_eq!(read(&root, "s").unwrap(), Some(d));
        assert_eq!(list(&root), vec!["4", "5"]);
        // The long way (no memory) too.
        plant(&root, "6");
        let e = tree(&[("x", "5")]);
        elsewhere(&root, |r| {
            assert_eq!(publish(r, "s", &e, &PUBLIC).unwrap(), 7);
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
        let e = e.unwrap_err().0;
        assert!(e.contains("held by another process for over 1 s"), "{e}");
        assert!(
            (LOCK_WAIT..LOCK_WAIT + 2.0).contains(&waited),
            "waited {waited}"
        );
        let e = elsewhere_result(&root, |r| withdraw(r, "s")).unwrap_err().0;
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
                .0,
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
        let e = elsewhere_result(&root, lock_root).unwrap_err().0;
        assert!(e.ends_with("another supervisor holds it"), "{e}");
        drop(held);
        lock_root(&root).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
