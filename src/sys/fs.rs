//! File-system syscalls for the state tree (renameat2, openat with O_NOFOLLOW, ...).
