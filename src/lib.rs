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
//!
//! `unsafe` is refused by the compiler everywhere but in the modules allowed
//! below (`sys`, `alloc`, `embed`, and in `lua` the C entry points): the
//! boundary is held by `deny(unsafe_code)`, not by review. `tests/unsafe-boundary`
//! proves it by building a copy with one `unsafe` block planted outside.
#![deny(unsafe_code)]
// The global allocator itself: `GlobalAlloc` is an unsafe trait.
#[allow(unsafe_code)]
pub mod alloc;
pub mod core;
// liblzma's C API, driven with our allocator.
#[allow(unsafe_code)]
pub mod embed;
pub mod evloop;
pub mod lua;
pub mod netlink;
// Raw system calls: the one place for them.
#[allow(unsafe_code)]
pub mod sys;
pub mod tree;
