//! The event loop (stub: being written).
