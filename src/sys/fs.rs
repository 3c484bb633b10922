//! File-system syscalls for the state tree: everything relative to an open
//! directory fd, and nothing that follows a symlink unless asked (the tree
//! lives in a directory other users' scripts can see; a planted symlink must
//! never redirect a write or a read). Safe wrappers; the only `unsafe` here.
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
    // SAFETY: `path` is a valid NUL-terminated string.
    cvt(unsafe { libc::open(path.as_ptr(), flags) }).map(owned)
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

/// Creates the new file `name` in `dir` (it must not exist) with exactly
/// `mode`: `fchmod` after the create, so the umask does not matter.
pub fn create_file_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid fd and NUL-terminated name; the mode is passed as a C vararg int.
    let fd = owned(cvt(unsafe {
        libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode as libc::c_uint)
    })?);
    fchmod(fd_ref(&fd), mode)?;
    Ok(fd)
}

/// Creates the directory `name` in `dir` and opens it, with exactly `mode`.
pub fn mkdir_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })?;
    let fd = open_dir_at(dir, name)?;
    fchmod(fd_ref(&fd), mode)?;
    Ok(fd)
}

/// Sets the permission bits of an open file.
pub fn fchmod(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    // SAFETY: valid fd.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `fstat`.
pub fn fstat(fd: BorrowedFd) -> io::Result<Meta> {
    // SAFETY: an all-zero `stat` is a valid value; the kernel fills it in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and a pointer to a live `stat`.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(meta_of(&st))
}

/// `lstat` of `name` in `dir` (a symlink is reported as one, not followed).
pub fn stat_at(dir: BorrowedFd, name: &CStr) -> io::Result<Meta> {
    // SAFETY: as in `fstat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, NUL-terminated name, pointer to a live `stat`.
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(meta_of(&st))
}

/// Hard-links `old` in `old_dir` as `new` in `new_dir` (a symlink would be
/// linked itself, not its target).
pub fn link_at(old_dir: BorrowedFd, old: &CStr, new_dir: BorrowedFd, new: &CStr) -> io::Result<()> {
    // SAFETY: valid fds and NUL-terminated names.
    cvt(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// Creates the symlink `name` in `dir` pointing to `target`.
pub fn symlink_at(target: &CStr, dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    // SAFETY: valid fd and NUL-terminated strings.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// The target of the symlink `name` in `dir`; `EINVAL` if it is not a symlink.
/// Targets longer than 4095 bytes are `ENAMETOOLONG`.
pub fn readlink_at(dir: BorrowedFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
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
    buf.truncate(n);
    Ok(buf)
}

/// `renameat`: atomically replaces `new` (a file or symlink, or an empty
/// directory when `old` is one) and never follows a symlink at either end.
pub fn rename_at(
    old_dir: BorrowedFd,
    old: &CStr,
    new_dir: BorrowedFd,
    new: &CStr,
) -> io::Result<()> {
    // SAFETY: valid fds and NUL-terminated names.
    cvt(unsafe {
        libc::renameat(
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
        )
    })
    .map(drop)
}

/// Removes `name` from `dir`: a directory (which must be empty) when `dir_flag`.
pub fn unlink_at(dir: BorrowedFd, name: &CStr, dir_flag: bool) -> io::Result<()> {
    let flags = if dir_flag { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// An exclusive `flock` on an open file or directory, held until the fd closes.
pub fn lock_exclusive(fd: BorrowedFd) -> io::Result<()> {
    loop {
        // SAFETY: valid fd.
        match cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r.map(drop),
        }
    }
}

/// The entries of directory `dir` (not `.` and `..`), at most `max` of them
/// (more is `EFBIG`: the caller bounds its memory). The fd is duplicated, so
/// `dir` stays usable. Symlinks are reported as symlinks.
pub fn read_dir(dir: BorrowedFd, max: usize) -> io::Result<Vec<(CString, Kind)>> {
    read_dir_upto(dir, max, true)
}

/// The first `max` entries of `dir` (fewer only when there are no more):
/// for work done in batches, like removing a directory of any size.
pub fn read_dir_some(dir: BorrowedFd, max: usize) -> io::Result<Vec<(CString, Kind)>> {
    read_dir_upto(dir, max, false)
}

fn read_dir_upto(dir: BorrowedFd, max: usize, strict: bool) -> io::Result<Vec<(CString, Kind)>> {
    // SAFETY: valid fd; the duplicate is owned by the DIR stream from here on.
    let dup = cvt(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` is a fresh directory fd we own.
    let stream = unsafe { libc::fdopendir(dup) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `dup` is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    // The duplicate shares its offset with `dir`: start from the top.
    // SAFETY: `stream` is a valid DIR*.
    unsafe { libc::rewinddir(stream) };
    let mut out = Vec::new();
    let result = loop {
        // errno tells the end of the stream (unchanged) from an error.
        // SAFETY: writing errno of this thread.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `stream` is a valid DIR*; the entry stays valid until the next readdir.
        let ent = unsafe { libc::readdir(stream) };
        if ent.is_null() {
            let e = io::Error::last_os_error();
            break match e.raw_os_error() {
                Some(0) | None => Ok(()),
                _ => Err(e),
            };
        }
        // SAFETY: d_name is NUL-terminated within the entry.
        let (name, d_type) = unsafe { (CStr::from_ptr((*ent).d_name.as_ptr()), (*ent).d_type) };
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        if out.len() >= max {
            break if strict {
                Err(io::Error::from_raw_os_error(libc::EFBIG))
            } else {
                Ok(())
            };
        }
        let name = name.to_owned();
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
    };
    // SAFETY: `stream` is valid and closed once (this also closes `dup`).
    unsafe { libc::closedir(stream) };
    result.map(|()| out)
}

/// A borrowed view of an owned fd.
pub fn fd_ref(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
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
        lock_exclusive(r).unwrap();
        std::fs::remove_dir_all(&p).unwrap();
    }
}
