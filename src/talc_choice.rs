//! talc as the global allocator (feature `alloc-talc`, for
//! bench/alloc-compare only). talc 5 has no OS source of its own: it takes
//! its heaps from the C library's malloc in blocks of `BLOCK` bytes (so
//! that they are their own mappings) and gives a heap back when it is
//! wholly free. upscript has one thread: the lock only needs to be sound.
use std::sync::atomic::{AtomicBool, Ordering};

/// A spin lock, as talc's examples use.
pub struct Spin(AtomicBool);

// SAFETY: a mutual exclusion lock: `lock` returns only to the one caller
// that turned the flag from false to true, `unlock` turns it back.
unsafe impl lock_api::RawMutex for Spin {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Spin(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardSend;
    fn lock(&self) {
        while !self.try_lock() {
            std::hint::spin_loop();
        }
    }
    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// What a heap is taken in: large enough to be the C library's own mapping.
const BLOCK: usize = 256 << 10;

pub type Talc = talc::TalcLock<Spin, talc::source::GlobalAllocSource<std::alloc::System>>;

pub const fn new() -> Talc {
    talc::TalcLock::new(talc::source::GlobalAllocSource::with_block_size(
        std::alloc::System,
        BLOCK,
    ))
}
