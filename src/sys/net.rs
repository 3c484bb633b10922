//! Network syscalls (netlink sockets, ...).
