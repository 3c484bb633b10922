//! Publishing a service's tree (docs/state-tree.md, steps 1-7): the atomic
//! publish and read-modify-write, withdraw, claim, the service and
//! supervisor locks, and making the root safe to share.
use super::reader::read_open;
use super::*;

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

/// What a publish did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Published {
    /// A new snapshot, this generation, is linked: subscribers are woken.
    New(u64),
    /// The tree (and its privacy) equals the current snapshot, this
    /// generation: nothing was written, no subscriber is woken.
    Unchanged(u64),
}

impl Published {
    /// The generation `<name>` names after the publish.
    pub fn generation(self) -> u64 {
        match self {
            Published::New(g) | Published::Unchanged(g) => g,
        }
    }
}

/// Replaces service `name`'s published tree with `tree` (a directory node)
/// atomically, unless it equals the current snapshot (with the same
/// privacy): then nothing is done (`Published::Unchanged`), so services can
/// publish on every event and subscribers still hear only of changes. On
/// any error the previous snapshot is untouched and no partial generation is
/// left behind.
pub fn publish(
    root: &Path,
    name: &str,
    tree: &Node,
    opts: &PublishOpts,
) -> Result<Published, TreeError> {
    check_name("publish", name)?;
    let entries = match tree {
        Node::Dir(m) => m,
        Node::Value(_) => return Err(not_a_table(name)),
    };
    let size = validate_tree(tree).map_err(|why| invalid(name, why))?;
    let keep = |c: &mut Cached, (g, prev, clean, st): Done| {
        if g == c.generation && st == c.stamp {
            return; // unchanged: what `c` remembers is still all true
        }
        c.generation = g;
        c.stamp = st;
        c.prev = prev;
        c.clean = clean;
        c.private = opts.private;
        c.tree = (size.bytes <= CACHE_MAX_BYTES).then(|| tree.clone());
    };
    if let Some(mut c) = take_cached(root, name) {
        match publish_cached(root, name, tree, entries, opts, &c) {
            Some(r) => {
                if let Ok((done, _)) = r {
                    keep(&mut c, done);
                    put_cached(c);
                }
                return r.map(|(d, new)| outcome(d.0, new));
            }
            None => drop(c), // stale: the long way
        }
    }
    let (r, c) = publish_uncached(root, name, tree, opts);
    if let (Ok((done, new)), Some(mut c)) = (&r, c) {
        if !new {
            c.tree = (size.bytes <= CACHE_MAX_BYTES).then(|| tree.clone());
        }
        keep(&mut c, *done);
        put_cached(c);
    }
    r.map(|(d, new)| outcome(d.0, new))
}

fn outcome(generation: u64, new: bool) -> Published {
    if new {
        Published::New(generation)
    } else {
        Published::Unchanged(generation)
    }
}

/// Whether the current snapshot of `name` (`.<name>/` locked) holds exactly
/// `tree`, read from the files: for a publisher that remembers nothing of
/// it (its first publish, a tree too big to keep, another publisher's).
fn holds(root: &Path, rootfd: BorrowedFd, name: &str, tree: &Node) -> bool {
    let mut closing = Vec::new();
    let read = read_open(root, rootfd, name, &[], &mut None, &mut closing, &mut None);
    matches!(read, Ok(Some(ref t)) if t == tree)
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
            open_root("publish", root)?.ok_or_else(|| vanished(format!("publish {name}"), root))?
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
    let Some(new) = f(tree).map_err(TreeError::Rejected)? else {
        return Ok(false);
    };
    let Node::Dir(entries) = &new else {
        return Err(not_a_table(name));
    };
    validate_tree(&new).map_err(|why| invalid(name, why))?;
    if locked.meta.perm != opts.dir_mode() {
        sfs::fchmod(dotfd, opts.dir_mode()).map_err(|err| TreeError::Io {
            at: format!("publish {name}"),
            what: format!("cannot chmod .{name}"),
            err,
        })?;
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
        .map_err(|e| TreeError::Io {
            at: format!("publish {name}"),
            what: format!("cannot create root {}", root.display()),
            err: e,
        })
}

/// A publish done: the new generation, the other one left (the previous),
/// and whether `.<name>/` holds nothing else; the new generation's stamp.
type Done = (u64, Option<u64>, bool, Stamp);

/// The short way, with what `c` remembers; `None` when it is stale.
fn publish_cached(
    root: &Path,
    name: &str,
    tree: &Node,
    entries: &std::collections::BTreeMap<String, Node>,
    opts: &PublishOpts,
    c: &Cached,
) -> Option<Result<(Done, bool), TreeError>> {
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
            return Some(Err(TreeError::Io {
                at: format!("publish {name}"),
                what: format!("cannot lock {}/.{name}", root.display()),
                err: e,
            }));
        }
    }
    // The same tree with the same privacy: nothing to do (no generation, no
    // flip, so no subscriber is woken). What we remember is trusted only if
    // `current` is still the directory we renamed into place (`stamp`); a
    // tree too big to remember is compared with the files.
    if opts.private == c.private {
        let same = match &c.tree {
            Some(t) => {
                matches!(t, Node::Dir(m) if m == entries)
                    && sfs::stat_at(dotfd, &super::c(itoa(current).as_str()))
                        .is_ok_and(|m| stamp(&m) == c.stamp)
            }
            None => holds(root, rootfd, name, tree),
        };
        if same {
            return Some(Ok(((current, c.prev, c.clean, c.stamp), false)));
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
    Some(
        publish_locked(
            name,
            rootfd,
            dotfd,
            Some(current),
            gens,
            known,
            entries,
            opts,
            chown,
        )
        .map(|d| (d, true)),
    )
}

/// The long way: open and check everything; also what to remember. `true`
/// with a new generation, `false` when the current one holds `tree` already.
fn publish_uncached(
    root: &Path,
    name: &str,
    tree: &Node,
    opts: &PublishOpts,
) -> (Result<(Done, bool), TreeError>, Option<Cached>) {
    let Node::Dir(entries) = tree else {
        return (Err(not_a_table(name)), None);
    };
    let r = (|| {
        if open_root("publish", root)?.is_none() {
            make_root(root, name)?;
        }
        let rootfd =
            open_root("publish", root)?.ok_or_else(|| vanished(format!("publish {name}"), root))?;
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
            dot: dotfd,
            chown,
            meta,
            ..
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
        // (`meta`: `.<name>/` before the lock set its mode to ours)
        if let Some(g) = current.filter(|_| meta.perm == opts.dir_mode()) {
            if holds(root, fd_ref(&rootfd), name, tree) {
                // ... and written by whom this publish would write as (the
                // owner is part of a snapshot: subscribers check it).
                let gen = sfs::stat_at(fd_ref(&dotfd), &c(itoa(g).as_str()));
                let writer = chown.map_or_else(sfs::geteuid, |(uid, _)| uid);
                if let Some(m) = gen.ok().filter(|m| m.uid == writer) {
                    return Ok(((g, None, false, stamp(&m)), false));
                }
            }
        }
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
        .map(|d| (d, true))
    });
    let cached = match (&r, sfs::fstat(fd_ref(&dotfd))) {
        (Ok(((g, prev, clean, st), _)), Ok(d)) => Some(Cached {
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
    let fail = |what: &str, err: io::Error| TreeError::Io {
        at: format!("publish {name}"),
        what: what.to_string(),
        err,
    };
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
    let next = newest.checked_add(1).ok_or_else(|| TreeError::GaveUp {
        at: format!("publish {name}"),
        why: "generation numbers exhausted".to_string(),
    })?;
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

/// The lock file in `.<name>/`: the publishers (and `withdraw`) of one
/// service take turns on its `flock`. Not `.<name>/` itself: a directory
/// anyone may open is a lock anyone may hold. The file is 0600, owned by
/// the tree's owner: nobody else can open it.
pub(super) const LOCK_NAME: &str = "lock";

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

fn not_a_table(name: &str) -> TreeError {
    invalid(name, "the tree must be a table, not a value".to_string())
}

fn invalid(name: &str, why: String) -> TreeError {
    TreeError::Invalid {
        at: format!("publish {name}"),
        why,
    }
}

fn vanished(at: String, root: &Path) -> TreeError {
    let why = format!("root {} vanished", root.display());
    TreeError::GaveUp { at, why }
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
        let what = format!("cannot lock {}/.{name}/{LOCK_NAME}", root.display());
        if errno(&e) == libc::ETIMEDOUT {
            TreeError::GaveUp {
                at: format!("{op} {name}"),
                why: format!("{what}: held by another process for over {LOCK_WAIT} s"),
            }
        } else {
            TreeError::Io {
                at: format!("{op} {name}"),
                what,
                err: e,
            }
        }
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
    let refuse = |e: io::Error| TreeError::Refused {
        at: format!("{op} {name}"),
        why: format!(
            "{}/.{name}: not a directory made by upd ({e})",
            root.display()
        ),
    };
    let mode = opts.copied().unwrap_or_default().dir_mode();
    for _ in 0..READ_ATTEMPTS {
        let fd = match sfs::mkdir_at(rootfd, dotname, mode) {
            Ok(fd) => fd,
            Err(e) if errno(&e) == libc::EEXIST => {
                sfs::open_dir_at(rootfd, dotname).map_err(refuse)?
            }
            Err(e) => {
                return Err(TreeError::Io {
                    at: format!("{op} {name}"),
                    what: format!("cannot create {}/.{name}", root.display()),
                    err: e,
                })
            }
        };
        let fail = |e: io::Error| TreeError::Io {
            at: format!("{op} {name}"),
            what: format!("cannot lock {}/.{name}", root.display()),
            err: e,
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
    Err(TreeError::GaveUp {
        at: format!("{op} {name}"),
        why: format!("{}/.{name} keeps disappearing", root.display()),
    })
}

type BuildErr<'a> = (Vec<&'a str>, &'static str, io::Error);

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
            return Err(TreeError::Refused {
                at: format!("withdraw {name}"),
                why: format!(
                    "{}/.{name}: not a directory made by upd ({e})",
                    root.display()
                ),
            })
        }
    };
    let fail = |what: &str, err: io::Error| TreeError::Io {
        at: format!("withdraw {name}"),
        what: what.to_string(),
        err,
    };
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
        withdraw(root, name).map_err(|e| TreeError::Within {
            at: format!("claim {name}"),
            inner: Box::new(e),
        })?;
        let rootfd = match open_root("claim", root)? {
            Some(fd) => fd,
            None => {
                make_root(root, name)?;
                open_root("claim", root)?.ok_or_else(|| vanished(format!("claim {name}"), root))?
            }
        };
        match sfs::mkdir_at(fd_ref(&rootfd), &c_dot(name), opts.dir_mode()) {
            Ok(fd) => {
                let m = sfs::fstat(fd_ref(&fd)).map_err(|err| TreeError::Io {
                    at: format!("claim {name}"),
                    what: String::new(),
                    err,
                })?;
                if (m.uid, m.gid) != (uid, gid) {
                    sfs::fchown(fd_ref(&fd), uid, gid).map_err(|e| TreeError::Io {
                        at: format!("claim {name}"),
                        what: format!("cannot give .{name} to uid {uid}"),
                        err: e,
                    })?;
                }
                return Ok(());
            }
            // made by someone else since the withdraw: withdraw again
            Err(e) if errno(&e) == libc::EEXIST => continue,
            Err(e) => {
                return Err(TreeError::Io {
                    at: format!("claim {name}"),
                    what: format!("cannot create {}/.{name}", root.display()),
                    err: e,
                })
            }
        }
    }
    Err(TreeError::GaveUp {
        at: format!("claim {name}"),
        why: format!(
            "{}/.{name} keeps being made by someone else",
            root.display()
        ),
    })
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
            open_root("lock", root)?.ok_or_else(|| vanished(String::new(), root))?
        }
    };
    let name = c(".supervisor");
    let fail = |err: io::Error| {
        let at = format!("cannot lock {}/.supervisor", root.display());
        if errno(&err) == libc::ETIMEDOUT {
            let why = "another supervisor holds it".to_string();
            TreeError::GaveUp { at, why }
        } else {
            let what = String::new();
            TreeError::Io { at, what, err }
        }
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
    Err(TreeError::GaveUp {
        at: format!("cannot lock {}/.supervisor", root.display()),
        why: "it keeps being replaced".to_string(),
    })
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
    let fail = |err: io::Error| TreeError::Io {
        at: format!("root {}", root.display()),
        what: String::new(),
        err,
    };
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
