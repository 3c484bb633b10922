//! upd: a service monitor for small Linux routers, scripted in Fennel.
//!
//! Layers, one job each (see docs/design.md):
//! - `sys`: the only place with raw system calls.
//! - `tree`: the published state tree (keys, atomic publish, reader, diff); pure
//!   parsing and validation, fuzzable.
//! - `netlink`: rtnetlink messages (checked parsing, fuzzable) and the socket.
//! - `evloop`: the one blocking wait over every source a script has.
//! - `core`: the Lua bindings (`upd.core`), thin glue over the layers above.
//! - `lua`, `embed`: the Lua state, the embedded Fennel compiler and library.
//! - `alloc`: the global allocator of the binary (and so of Lua).
pub mod alloc;
pub mod core;
pub mod embed;
pub mod evloop;
pub mod lua;
pub mod netlink;
pub mod sys;
pub mod tree;
