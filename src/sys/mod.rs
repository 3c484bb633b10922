//! Raw system calls: the only place with `unsafe` libc calls. One file per
//! subsystem; the layers above use the safe wrappers here (or `nix`'s).
pub mod fs;
pub mod mem;
pub mod net;
pub mod proc;

/// Turns a libc `-1` return into the `errno` as an `io::Error`.
pub fn cvt(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
