//! File-system syscalls for the state tree: everything relative to an open
//! directory fd, and nothing that follows a symlink unless asked (the tree
//! lives in a directory other users' scripts can see; a planted symlink must
//! never redirect a write or a read). Safe wrappers; the only `unsafe` here.
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::AtFlags;

use super::cvt;

/// The kind of a directory entry, from `d_type` (or `lstat` when the file
/// system does not fill it in).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

fn kind_of_mode(mode: libc::mode_t) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// What the tree needs to know of a file: its kind, permission bits, size, inode.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub kind: Kind,
    pub perm: u32,
    pub size: u64,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    /// Owner and group.
    pub uid: u32,
    pub gid: u32,
    /// Last status change, seconds and nanoseconds.
    pub ctime: (i64, i64),
}

// The casts are no-ops here but not on every target (32-bit MIPS libcs).
#[allow(clippy::unnecessary_cast)]
fn meta_of(st: &libc::stat) -> Meta {
    Meta {
        kind: kind_of_mode(st.st_mode),
        perm: (st.st_mode & 0o7777) as u32,
        size: st.st_size as u64,
        ino: st.st_ino as u64,
        dev: st.st_dev as u64,
        nlink: st.st_nlink as u64,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
        ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
    }
}

/// Turns a name (no NUL inside) into a C string; a NUL is `EINVAL`.
pub fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens a directory by path, following symlinks: only for the state root
/// itself, which the administrator chose.
pub fn open_dir(path: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // `openat`, not `open`: musl's `open` follows an `O_CLOEXEC` open with
    // an `fcntl` (for kernels older than 2.6.23), a syscall for nothing.
    // SAFETY: a NUL-terminated string; AT_FDCWD resolves it like `open`.
    cvt(unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), flags) }).map(owned)
}

/// Opens the directory `name` inside `dir`; a symlink there is `ELOOP`
/// (or `ENOTDIR`), never followed.
pub fn open_dir_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(owned)
}

/// Opens the file `name` inside `dir` for reading without following a
/// symlink; `O_NONBLOCK` so a planted FIFO cannot stall the reader (the
/// caller checks with `fstat` that it got a regular file).
pub fn open_file_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(owned)
}

/// The process umask, read once from `/proc/self/status` (`umask(2)` cannot
/// read it without changing it, which would race other threads); `None`
/// when unknown. upd never changes its own umask after start.
fn umask() -> Option<u32> {
    use std::sync::atomic::{AtomicU32, Ordering};
    // 0..=0o777: known; UNKNOWN: could not read; UNSET: not read yet.
    const UNSET: u32 = u32::MAX;
    const UNKNOWN: u32 = u32::MAX - 1;
    static CACHED: AtomicU32 = AtomicU32::new(UNSET);
    let mut m = CACHED.load(Ordering::Relaxed);
    if m == UNSET {
        m = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Umask:"))?;
                u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
            })
            .filter(|m| *m <= 0o777)
            .unwrap_or(UNKNOWN);
        CACHED.store(m, Ordering::Relaxed);
    }
    (m != UNKNOWN).then_some(m)
}

/// Sets exactly `mode` on a file just created with it, unless the umask
/// left it untouched (saves a syscall per file in the common case).
fn fix_mode(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    match umask() {
        Some(u) if mode & u == 0 => Ok(()),
        _ => fchmod(fd, mode),
    }
}

/// Creates the new file `name` in `dir` (it must not exist) with exactly
/// `mode`: `fchmod` after the create unless the umask cannot have changed it.
pub fn create_file_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid fd and NUL-terminated name; the mode is passed as a C vararg int.
    let fd = owned(cvt(unsafe {
        libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode as libc::c_uint)
    })?);
    fix_mode(fd_ref(&fd), mode)?;
    Ok(fd)
}

/// Runs a read/write-like syscall again while a signal interrupts it; `-1`
/// becomes the errno, anything else the byte count.
fn retry_eintr(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Writes `a` then `b` to `fd` with one `writev` in the common case (a
/// value and its newline), looping on short writes.
pub fn write2(fd: BorrowedFd, a: &[u8], b: &[u8]) -> io::Result<()> {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        let iov = [
            libc::iovec {
                iov_base: a.as_ptr() as *mut libc::c_void,
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            },
        ];
        // SAFETY: valid fd; both iovecs describe live slices of the lengths given.
        let n = retry_eintr(|| unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), 2) })?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        if n >= a.len() {
            b = b.get(n - a.len()..).unwrap_or(&[]);
            a = &[];
        } else {
            a = &a[n..];
        }
    }
    Ok(())
}

/// Reads into `buf` from the current offset until it is full or the file
/// ends; the number of bytes read.
pub fn read_full(fd: BorrowedFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        let rest = &mut buf[at..];
        // SAFETY: valid fd and a writable buffer of the length passed.
        let n = retry_eintr(|| unsafe {
            libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len())
        })?;
        if n == 0 {
            break;
        }
        at += n;
    }
    Ok(at)
}

/// One `read` (retried on `EINTR`): for a file that does not change, a
/// count below `buf.len()` is its end, and the second `read` that
/// `read_full` would make to see the 0 is saved.
pub fn read_once(fd: BorrowedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: valid fd and a writable buffer of the length passed.
    retry_eintr(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `stat` of a path, following symlinks (only for the root itself, which
/// the administrator chose): to see whether it was replaced.
pub fn stat_path(path: &CStr) -> io::Result<Meta> {
    // SAFETY: as in `fstat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: NUL-terminated path, pointer to a live `stat`.
    cvt(unsafe { libc::stat(path.as_ptr(), &mut st) })?;
    Ok(meta_of(&st))
}

/// The owner's uid and the permission bits of the directory `path`, made
/// (with `mode`) when nothing is there; a symlink at `path` is `ELOOP` or
/// `ENOTDIR`, never followed: for a work directory no other user may plant.
#[allow(clippy::unnecessary_cast)]
pub fn dir_owner(path: &CStr, mode: u32) -> io::Result<(u32, u32)> {
    // SAFETY: a NUL-terminated path.
    if let Err(e) = cvt(unsafe { libc::mkdir(path.as_ptr(), mode as libc::mode_t) }) {
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as in `open_dir`.
    let fd = cvt(unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), flags) }).map(owned)?;
    // SAFETY: as in `fstat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and a pointer to a live `stat`.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_uid as u32, (st.st_mode & 0o7777) as u32))
}

/// Creates the directory `name` in `dir` and opens it, with exactly `mode`.
pub fn mkdir_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    nix::sys::stat::mkdirat(dir, name, mode_bits(mode))?;
    let fd = open_dir_at(dir, name)?;
    fix_mode(fd_ref(&fd), mode)?;
    Ok(fd)
}

/// Releases an `flock`.
pub fn unlock(fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: valid fd.
    cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) }).map(drop)
}

/// Sets the permission bits of an open file.
pub fn fchmod(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    Ok(nix::sys::stat::fchmod(fd, mode_bits(mode))?)
}

/// Permission bits as nix takes them (the bits kept as given: setuid,
/// setgid and sticky included).
fn mode_bits(mode: u32) -> nix::sys::stat::Mode {
    nix::sys::stat::Mode::from_bits_retain(mode as libc::mode_t)
}

/// `fstat`.
pub fn fstat(fd: BorrowedFd) -> io::Result<Meta> {
    Ok(meta_of(&nix::sys::stat::fstat(fd)?))
}

/// `lstat` of `name` in `dir` (a symlink is reported as one, not followed).
pub fn stat_at(dir: BorrowedFd, name: &CStr) -> io::Result<Meta> {
    let st = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    Ok(meta_of(&st))
}

/// Hard-links `old` in `old_dir` as `new` in `new_dir` (a symlink would be
/// linked itself, not its target).
pub fn link_at(old_dir: BorrowedFd, old: &CStr, new_dir: BorrowedFd, new: &CStr) -> io::Result<()> {
    Ok(nix::unistd::linkat(
        old_dir,
        old,
        new_dir,
        new,
        AtFlags::empty(),
    )?)
}

/// Creates the symlink `name` in `dir` pointing to `target`.
pub fn symlink_at(target: &CStr, dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    Ok(nix::unistd::symlinkat(target, dir, name)?)
}

/// The target of the symlink `name` in `dir`; `EINVAL` if it is not a symlink.
/// Targets of 512 bytes or more are `ENAMETOOLONG`: upd's own links are at
/// most 277 (`.`, a 255-byte name, `/`, 20 digits), and a small buffer on
/// the stack spares a zeroed 4 KiB allocation on every read of a snapshot.
pub fn readlink_at(dir: BorrowedFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 512];
    // SAFETY: valid fd, NUL-terminated name, and a buffer of the length passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    Ok(buf[..n].to_vec())
}

/// `renameat`: atomically replaces `new` (a file or symlink, or an empty
/// directory when `old` is one) and never follows a symlink at either end.
pub fn rename_at(
    old_dir: BorrowedFd,
    old: &CStr,
    new_dir: BorrowedFd,
    new: &CStr,
) -> io::Result<()> {
    Ok(nix::fcntl::renameat(old_dir, old, new_dir, new)?)
}

/// Removes `name` from `dir`: a directory (which must be empty) when `dir_flag`.
pub fn unlink_at(dir: BorrowedFd, name: &CStr, dir_flag: bool) -> io::Result<()> {
    use nix::unistd::UnlinkatFlags as F;
    let flags = if dir_flag {
        F::RemoveDir
    } else {
        F::NoRemoveDir
    };
    Ok(nix::unistd::unlinkat(dir, name, flags)?)
}

/// Tries once to take an exclusive `flock` on an open file without waiting:
/// `Ok(false)` when another open file holds it.
pub fn try_lock_exclusive(fd: BorrowedFd) -> io::Result<bool> {
    loop {
        // SAFETY: valid fd.
        match cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
            Ok(_) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// An exclusive `flock` on an open file, held until the fd closes, waiting
/// at most `secs` for it (retrying every few milliseconds): never a wait
/// without a deadline. `ETIMEDOUT` when it stayed held.
pub fn lock_exclusive_within(fd: BorrowedFd, secs: f64) -> io::Result<()> {
    let deadline = super::proc::monotonic() + secs;
    let mut pause_ms = 1;
    while !try_lock_exclusive(fd)? {
        if super::proc::monotonic() >= deadline {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        // poll with no fds: a sleep, without std's thread machinery
        super::proc::poll(&mut [], pause_ms)?;
        pause_ms = (pause_ms * 2).min(20);
    }
    Ok(())
}

/// Opens (creating it, mode 0600, if absent) the lock file `name` in `dir`
/// without following a symlink; `created` says whether this call made it.
/// 0600: nobody but its owner (and root) can open it, so nobody else can
/// hold its lock.
pub fn open_lock_at(dir: BorrowedFd, name: &CStr) -> io::Result<(OwnedFd, bool)> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    loop {
        // SAFETY: valid fd and NUL-terminated name.
        match cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }) {
            Ok(fd) => return Ok((owned(fd), false)),
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            Err(_) => {}
        }
        let create = flags | libc::O_CREAT | libc::O_EXCL;
        // SAFETY: as above; the mode is passed as a C vararg int.
        match cvt(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                create,
                0o600 as libc::c_uint,
            )
        }) {
            Ok(fd) => {
                let fd = owned(fd);
                fix_mode(fd_ref(&fd), 0o600)?;
                return Ok((fd, true));
            }
            // made by another opener meanwhile: open that one
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Changes the owner and group of an open file.
pub fn fchown(fd: BorrowedFd, uid: u32, gid: u32) -> io::Result<()> {
    let (uid, gid) = ids(uid, gid);
    Ok(nix::unistd::fchown(fd, uid, gid)?)
}

/// nix's owner arguments: `u32::MAX` (-1 for chown) leaves the id as it is.
fn ids(uid: u32, gid: u32) -> (Option<nix::unistd::Uid>, Option<nix::unistd::Gid>) {
    (
        (uid != u32::MAX).then(|| nix::unistd::Uid::from_raw(uid)),
        (gid != u32::MAX).then(|| nix::unistd::Gid::from_raw(gid)),
    )
}

/// Changes the owner and group of `name` in `dir`, not following a symlink.
pub fn chown_at(dir: BorrowedFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    let (uid, gid) = ids(uid, gid);
    Ok(nix::unistd::fchownat(
        dir,
        name,
        uid,
        gid,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

/// `chown` of a path, following symlinks (only for the root itself);
/// `u32::MAX` leaves that id as it is.
pub fn chown_path(path: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    let (uid, gid) = ids(uid, gid);
    Ok(nix::unistd::chown(path, uid, gid)?)
}

/// `chmod` of a path, following symlinks (only for the root itself).
pub fn chmod_path(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: NUL-terminated path.
    cvt(unsafe { libc::chmod(path.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// Our effective group id.
pub fn getegid() -> u32 {
    nix::unistd::getegid().as_raw()
}

/// Our effective user id.
pub fn geteuid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The entries of directory `dir` (not `.` and `..`), at most `max` of them
/// (more is `EFBIG`: the caller bounds its memory). `dir`'s offset is
/// rewound first and left at the end. Symlinks are reported as symlinks.
pub fn read_dir(dir: BorrowedFd, max: usize) -> io::Result<Vec<(CString, Kind)>> {
    read_dir_upto(dir, max, true, true)
}

/// `read_dir` of a directory fd just opened (its offset is at the start:
/// one `lseek` fewer).
pub fn read_dir_fresh(dir: BorrowedFd, max: usize) -> io::Result<Vec<(CString, Kind)>> {
    read_dir_upto(dir, max, true, false)
}

/// The first `max` entries of `dir` (fewer only when there are no more):
/// for work done in batches, like removing a directory of any size.
pub fn read_dir_some(dir: BorrowedFd, max: usize) -> io::Result<Vec<(CString, Kind)>> {
    read_dir_upto(dir, max, false, true)
}

/// `read_dir_some` of a directory fd just opened (no `lseek`).
pub fn read_dir_some_fresh(dir: BorrowedFd, max: usize) -> io::Result<Vec<(CString, Kind)>> {
    read_dir_upto(dir, max, false, false)
}

fn read_dir_upto(
    dir: BorrowedFd,
    max: usize,
    strict: bool,
    rewind: bool,
) -> io::Result<Vec<(CString, Kind)>> {
    // getdents64 straight on `dir` (no dup/fdopendir/closedir: 3-4 syscalls
    // fewer per listing); rewound first, so every call lists from the top.
    // SAFETY: valid fd.
    if rewind && unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    loop {
        // SAFETY: valid fd and a writable buffer of the length passed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd() as libc::c_long,
                buf.as_mut_ptr(),
                buf.len() as libc::c_long,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n == 0 {
            return Ok(out);
        }
        for (name, d_type) in Dirents::new(buf.get(..n).unwrap_or(&[])) {
            if name == b"." || name == b".." {
                continue;
            }
            if out.len() >= max {
                return if strict {
                    Err(io::Error::from_raw_os_error(libc::EFBIG))
                } else {
                    Ok(out)
                };
            }
            let Ok(name) = CString::new(name) else {
                continue; // the kernel never gives a NUL inside a name
            };
            let kind = match d_type {
                libc::DT_REG => Kind::File,
                libc::DT_DIR => Kind::Dir,
                libc::DT_LNK => Kind::Symlink,
                libc::DT_UNKNOWN => match stat_at(dir, &name) {
                    Ok(m) => m.kind,
                    Err(_) => Kind::Other,
                },
                _ => Kind::Other,
            };
            out.push((name, kind));
        }
    }
}

/// The records of a `getdents64` buffer (`struct linux_dirent64`: u64 ino,
/// i64 off, u16 reclen, u8 type, NUL-terminated name), checked: a record
/// that does not fit ends the iteration instead of reading past the end.
struct Dirents<'a> {
    buf: &'a [u8],
}

impl<'a> Dirents<'a> {
    const HEADER: usize = 19;
    fn new(buf: &'a [u8]) -> Self {
        Dirents { buf }
    }
}

impl<'a> Iterator for Dirents<'a> {
    type Item = (&'a [u8], u8);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.buf;
        if b.len() < Self::HEADER {
            return None;
        }
        let reclen = u16::from_ne_bytes([b[16], b[17]]) as usize;
        if reclen < Self::HEADER || reclen > b.len() {
            self.buf = &[];
            return None;
        }
        let d_type = b[18];
        let raw = &b[Self::HEADER..reclen];
        let name = &raw[..raw.iter().position(|&c| c == 0).unwrap_or(raw.len())];
        self.buf = &b[reclen..];
        Some((name, d_type))
    }
}

/// A borrowed view of an owned fd.
pub fn fd_ref(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

/// Writes an ordinary file atomically: a temporary file in the same
/// directory, `fsync`, `rename` over `path`, then `fsync` of the directory.
/// `mode` is set exactly (not masked by the umask). The error says which
/// step failed (`cannot open the directory: No such file ...`); the caller
/// names the path.
pub fn write_file(path: &std::path::Path, content: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let fail = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let dirfd = open_dir(&cstr(dir.as_os_str().as_bytes()).map_err(|e| fail("bad path", e))?)
        .map_err(|e| fail("cannot open the directory", e))?;
    let dirfd = fd_ref(&dirfd);
    let mut tmp_name = Vec::with_capacity(file_name.len() + 24);
    tmp_name.push(b'.');
    tmp_name.extend_from_slice(file_name.as_bytes());
    tmp_name.extend_from_slice(format!(".{}.tmp", std::process::id()).as_bytes());
    let tmp = cstr(&tmp_name).map_err(|e| fail("bad path", e))?;
    let target = cstr(file_name.as_bytes()).map_err(|e| fail("bad path", e))?;
    // A leftover of this pid (an earlier crash of a process with our pid) goes.
    let _ = unlink_at(dirfd, &tmp, false);
    let r = (|| {
        let fd = create_file_at(dirfd, &tmp, mode & 0o7777)
            .map_err(|e| fail("cannot create a temporary file", e))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(content).map_err(|e| fail("cannot write", e))?;
        f.sync_all().map_err(|e| fail("cannot sync", e))?;
        drop(f);
        rename_at(dirfd, &tmp, dirfd, &target).map_err(|e| fail("cannot rename", e))
    })();
    if r.is_err() {
        let _ = unlink_at(dirfd, &tmp, false);
        return r;
    }
    // The rename itself durable; failing here does not undo the write.
    let _ = open_dir_at(dirfd, c".").map(|d| std::fs::File::from(d).sync_all());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn tmp(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("upd-sysfs-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    #[test]
    fn create_read_link_rename() {
        let p = tmp("basic");
        let root = open_dir(&cstr(p.as_os_str().as_encoded_bytes()).unwrap()).unwrap();
        let r = fd_ref(&root);
        let f = create_file_at(r, &c("a"), 0o600).unwrap();
        std::fs::File::from(f).write_all(b"hello\n").unwrap();
        assert!(create_file_at(r, &c("a"), 0o600).is_err(), "O_EXCL");
        let m = stat_at(r, &c("a")).unwrap();
        assert_eq!((m.kind, m.perm, m.size), (Kind::File, 0o600, 6));
        link_at(r, &c("a"), r, &c("b")).unwrap();
        assert_eq!(stat_at(r, &c("b")).unwrap().ino, m.ino);
        let mut s = String::new();
        std::fs::File::from(open_file_at(r, &c("b")).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello\n");
        symlink_at(&c("a"), r, &c("l")).unwrap();
        assert_eq!(readlink_at(r, &c("l")).unwrap(), b"a");
        let long = "x".repeat(600);
        symlink_at(&c(&long), r, &c("long")).unwrap();
        assert_eq!(
            readlink_at(r, &c("long")).unwrap_err().raw_os_error(),
            Some(libc::ENAMETOOLONG)
        );
        unlink_at(r, &c("long"), false).unwrap();
        assert_eq!(
            readlink_at(r, &c("a")).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        let d = mkdir_at(r, &c("d"), 0o700).unwrap();
        assert_eq!(fstat(fd_ref(&d)).unwrap().perm, 0o700);
        let mut names: Vec<_> = read_dir(r, 10).unwrap();
        names.sort();
        assert_eq!(
            names,
            vec![
                (c("a"), Kind::File),
                (c("b"), Kind::File),
                (c("d"), Kind::Dir),
                (c("l"), Kind::Symlink)
            ]
        );
        assert_eq!(
            read_dir(r, 3).unwrap_err().raw_os_error(),
            Some(libc::EFBIG)
        );
        assert_eq!(read_dir_some(r, 3).unwrap().len(), 3);
        rename_at(r, &c("b"), fd_ref(&d), &c("b2")).unwrap();
        unlink_at(fd_ref(&d), &c("b2"), false).unwrap();
        unlink_at(r, &c("d"), true).unwrap();
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn symlinks_are_not_followed() {
        let p = tmp("nofollow");
        std::fs::create_dir(p.join("real")).unwrap();
        std::fs::write(p.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink("real", p.join("ldir")).unwrap();
        std::os::unix::fs::symlink("file", p.join("lfile")).unwrap();
        let root = open_dir(&cstr(p.as_os_str().as_encoded_bytes()).unwrap()).unwrap();
        let r = fd_ref(&root);
        assert!(open_dir_at(r, &c("ldir")).is_err());
        assert!(open_file_at(r, &c("lfile")).is_err());
        assert!(open_dir_at(r, &c("real")).is_ok());
        assert_eq!(stat_at(r, &c("ldir")).unwrap().kind, Kind::Symlink);
        lock_exclusive_within(r, 1.0).unwrap();
        std::fs::remove_dir_all(&p).unwrap();
    }
}
