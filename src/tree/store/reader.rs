//! Reading a service's tree: bounded, never following a planted symlink,
//! starting over when the generation read is deleted under it; the list of
//! services published and who wrote a snapshot.
use super::*;

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
    let fail = |err: io::Error| TreeError::Io {
        at: format!("owner {name}"),
        what: String::new(),
        err,
    };
    let dot = sfs::open_dir_at(fd_ref(&rootfd), &c_dot(name)).map_err(fail)?;
    let gen = sfs::open_dir_at(fd_ref(&dot), &c(itoa(g).as_str())).map_err(fail)?;
    Ok(Some(sfs::fstat(fd_ref(&gen)).map_err(fail)?.uid))
}

/// Sorted names of the services published now: entries of the root that
/// are symlinks of the form `.<name>/<digits>`.
pub fn list(root: &Path) -> Result<Vec<String>, TreeError> {
    let Some(rootfd) = open_root("list", root)? else {
        return Ok(Vec::new());
    };
    let rootfd = fd_ref(&rootfd);
    let entries = sfs::read_dir(rootfd, 4 * MAX_ENTRIES).map_err(|err| TreeError::Io {
        at: "list".to_string(),
        what: format!("cannot read {}", root.display()),
        err,
    })?;
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

fn unreadable(name: &str, why: String) -> TreeError {
    TreeError::Unreadable {
        at: format!("read {name}"),
        why,
    }
}

pub(super) enum ReadErr {
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
        key::validate_key(k.as_bytes()).map_err(|e| TreeError::Invalid {
            at: format!("read {name}"),
            why: format!("bad key {} in path: {e}", show(k.as_bytes())),
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

/// `read_at` of `path` (its keys checked).
pub(super) fn read_open(
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
            Err(ReadErr::Fail(why)) => return Err(unreadable(name, why)),
            Err(ReadErr::Vanished) => match read_link("read", root, rootfd, name)? {
                Link::Generation(g) if g == generation => {
                    return Err(unreadable(
                        name,
                        format!(
                            "{}/{name} points to .{name}/{g}, which does not exist",
                            root.display()
                        ),
                    ))
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
            Err(ReadErr::Fail(why)) => return Err(unreadable(name, why)),
            // Gone from a generation that was intact: a genuine absence.
            Err(ReadErr::Vanished) if whole => return Ok(None),
            // Possibly torn: read it again from the new link.
            _ => continue,
        }
    }
    Err(TreeError::GaveUp {
        at: format!("read {name}"),
        why: format!(
            "the snapshot changed under the reader {READ_ATTEMPTS} times (last .{name}/{last})"
        ),
    })
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
pub(super) fn still_linked(
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
pub(super) fn open_generation(
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
