//! `Small`: the global allocator of `upscript`, and so of Lua (mlua's
//! allocator calls Rust's). An idle service's anonymous memory is mostly its
//! heap, and the C library's malloc kept about three times the live bytes
//! resident after start-up. (Built with zig, that malloc is Zig's own, over
//! its `SmpAllocator`, not musl's mallocng: a 16-byte header on every block,
//! power-of-two size classes, freed blocks kept.) See docs/design.md,
//! "Memory".
//!
//! Simple segregated storage, for a single-threaded process that allocates a
//! few thousand small objects:
//! - A request of at most `SMALL` bytes is rounded up to one of 32 size
//!   classes (steps of `G` up to `8 * G`, then four per doubling: at most 25%
//!   lost) and carved from 64 KiB chunks of address space in order, so a page
//!   is resident only once something was put on it. A freed block goes on its
//!   class's free list and is reused first. No header: Rust passes the size
//!   back on `dealloc` and `realloc`.
//! - A larger request is its own `mmap`, grown with `mremap` and given back
//!   with `munmap` when freed: the inflated sources, parser buffers, big
//!   tables and I/O buffers leave nothing behind. While a script starts, a
//!   few freed mappings (`CACHED`) are kept for the next request of the
//!   same number of pages: Lua's parser grows and frees arrays of a few KiB
//!   by the hundred, and a map + unmap for each cost a Fennel script's start
//!   about 400 system calls and their page faults. `release_cached` (called
//!   when the script settles, before its first idle wait) unmaps them.
//! - While the Fennel compiler loads (`populate_while`), new mappings come
//!   with their pages in place (`MAP_POPULATE`): the parser fills them at
//!   once, and one system call costs less than a page fault per page (632 ->
//!   112 page faults for a Fennel script compiled at start). The unused rest
//!   of the current chunk is dropped after. Not for every start: populating
//!   64 KiB chunks would raise a Lua script's peak RSS above 1 MiB.
//!
//! A spin lock makes it sound if a thread ever allocates; there is no
//! contention in upscript, which has one thread.
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

/// The size-class granularity and alignment: what malloc guarantees.
const G: usize = 2 * std::mem::size_of::<usize>();
/// Up to this, a request is a small block; above, its own mapping.
pub const SMALL: usize = 2048;
/// Address space taken at a time for small blocks (resident only as used).
const CHUNK: usize = 64 * 1024;
const PAGE: usize = 4096;
const CLASSES: usize = 32;

/// A size class: (index, block size). `size` is 1..=SMALL.
fn class(size: usize) -> (usize, usize) {
    if size <= 8 * G {
        let i = size.div_ceil(G);
        (i - 1, i * G)
    } else {
        // b = floor(log2(size - 1)) >= log2(8 * G); steps of 2^(b-2).
        let b = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
        let step = 1 << (b - 2);
        let rounded = (size + step - 1) & !(step - 1);
        let lin_log = (8 * G).trailing_zeros() as usize;
        (8 + 4 * (b - lin_log) + (rounded >> (b - 2)) - 5, rounded)
    }
}

/// Freed large mappings kept for reuse: at most this many, each at most
/// `CACHE_MAX` bytes.
const CACHED: usize = 8;
const CACHE_MAX: usize = 256 * 1024;

struct State {
    free: [*mut u8; CLASSES],
    next: usize,
    end: usize,
    /// Freed large mappings: (address, length in bytes); 0 is an empty slot.
    cache: [(usize, usize); CACHED],
    /// Whether new mappings come populated (`populate_while`).
    populate: bool,
    /// Whether freed large mappings are kept (until `release_cached`).
    caching: bool,
}

pub struct Small {
    lock: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: the state is only touched with the lock held.
unsafe impl Sync for Small {}

impl Default for Small {
    fn default() -> Small {
        Small::new()
    }
}

impl Small {
    pub const fn new() -> Small {
        Small {
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                free: [null_mut(); CLASSES],
                next: 0,
                end: 0,
                cache: [(0, 0); CACHED],
                populate: false,
                caching: true,
            }),
        }
    }

    /// Runs `f` with new mappings populated (`MAP_POPULATE`), then drops
    /// what of the current chunk is still unused.
    pub fn populate_while<R>(&self, f: impl FnOnce() -> R) -> R {
        self.with(|s| s.populate = true);
        let r = f();
        let tail = self.with(|s| {
            s.populate = false;
            (pages(s.next), s.end)
        });
        if tail.0 < tail.1 {
            // SAFETY: free space of our chunk; nothing is in it, and a page
            // dropped reads as zeros when it is used.
            unsafe {
                libc::madvise(
                    tail.0 as *mut libc::c_void,
                    tail.1 - tail.0,
                    libc::MADV_DONTNEED,
                )
            };
        }
        r
    }

    /// Unmaps the freed large mappings kept for reuse, and keeps no more:
    /// start-up is over.
    pub fn release_cached(&self) {
        let cache = self.with(|s| {
            s.caching = false;
            std::mem::replace(&mut s.cache, [(0, 0); CACHED])
        });
        for (at, len) in cache {
            if at != 0 {
                // SAFETY: a mapping of ours that nothing uses any more.
                unsafe { libc::munmap(at as *mut libc::c_void, len) };
            }
        }
    }

    /// A large block of `len` bytes (whole pages): a kept mapping of that
    /// length if there is one (`true`: its bytes are not zero), else a new one.
    unsafe fn alloc_large(&self, len: usize) -> (*mut u8, bool) {
        let (kept, starting) = self.with(|s| {
            let slot = s.cache.iter_mut().find(|c| c.1 == len);
            (slot.map(|c| std::mem::take(c).0 as *mut u8), s.populate)
        });
        match kept {
            Some(p) => (p, true),
            None => (map(len, starting), false),
        }
    }

    /// Gives back a large block of `len` bytes (whole pages), or keeps it.
    unsafe fn dealloc_large(&self, p: *mut u8, len: usize) {
        let evicted = self.with(|s| {
            if !s.caching || len > CACHE_MAX {
                return Some((p as usize, len));
            }
            let slot = match s.cache.iter_mut().find(|c| c.0 == 0) {
                Some(free) => free,
                // Full: the first goes (they are all recent enough).
                None => &mut s.cache[0],
            };
            let old = std::mem::replace(slot, (p as usize, len));
            (old.0 != 0).then_some(old)
        });
        if let Some((at, len)) = evicted {
            libc::munmap(at as *mut libc::c_void, len);
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held.
        let r = f(unsafe { &mut *self.state.get() });
        self.lock.store(false, Ordering::Release);
        r
    }
}

fn is_small(l: &Layout) -> bool {
    l.size() <= SMALL && l.align() <= G
}

fn pages(size: usize) -> usize {
    (size + PAGE - 1) & !(PAGE - 1)
}

/// A fresh mapping of `len` bytes; `populate`: with its pages in place (one
/// system call instead of a page fault per page, for memory used at once).
unsafe fn map(len: usize, populate: bool) -> *mut u8 {
    let pop = if populate { libc::MAP_POPULATE } else { 0 };
    let p = libc::mmap(
        null_mut(),
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | pop,
        -1,
        0,
    );
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

unsafe impl GlobalAlloc for Small {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !is_small(&l) {
            // Page-aligned; a larger alignment is not needed by anything here.
            return if l.align() <= PAGE {
                self.alloc_large(pages(l.size())).0
            } else {
                null_mut()
            };
        }
        let (i, size) = class(l.size().max(1));
        self.with(|s| {
            let p = s.free[i];
            if !p.is_null() {
                s.free[i] = *p.cast::<*mut u8>();
                return p;
            }
            if s.end - s.next < size {
                let c = map(CHUNK, s.populate);
                if c.is_null() {
                    return c;
                }
                s.next = c as usize;
                s.end = s.next + CHUNK;
            }
            let p = s.next as *mut u8;
            s.next += size;
            p
        })
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if !is_small(&l) && l.align() <= PAGE {
            // A fresh mapping is zero already: do not touch its pages.
            let (p, kept) = self.alloc_large(pages(l.size()));
            if kept {
                p.write_bytes(0, l.size());
            }
            return p;
        }
        let p = self.alloc(l);
        if !p.is_null() {
            p.write_bytes(0, l.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if !is_small(&l) {
            self.dealloc_large(p, pages(l.size()));
            return;
        }
        let (i, _) = class(l.size().max(1));
        self.with(|s| {
            *p.cast::<*mut u8>() = s.free[i];
            s.free[i] = p;
        })
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let nl = Layout::from_size_align_unchecked(new, l.align());
        match (is_small(&l), is_small(&nl)) {
            (true, true) if class(l.size().max(1)).0 == class(new.max(1)).0 => return p,
            (false, false) => {
                let q = libc::mremap(p.cast(), pages(l.size()), pages(new), libc::MREMAP_MAYMOVE);
                return if q == libc::MAP_FAILED {
                    null_mut()
                } else {
                    q.cast()
                };
            }
            _ => {}
        }
        let q = self.alloc(nl);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, l.size().min(new));
            self.dealloc(p, l);
        }
        q
    }
}

/// upscript's allocator (src/main.rs installs it as the global one through
/// `Global`), here so that the event loop can `release_cached` it.
static GLOBAL: Small = Small::new();

/// The global allocator: `GLOBAL`.
pub struct Global;

unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        GLOBAL.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        GLOBAL.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        GLOBAL.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        GLOBAL.realloc(p, l, new)
    }
}

/// Start-up is over (the script settles): the large mappings kept for
/// reuse are given back, and no more are kept.
pub fn release_cached() {
    GLOBAL.release_cached();
}

/// Runs `f` (loading the Fennel compiler) with new mappings populated.
pub fn populate_while<R>(f: impl FnOnce() -> R) -> R {
    GLOBAL.populate_while(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_small_size_in_order() {
        let mut last = class(1);
        assert_eq!(last, (0, G));
        for size in 1..=SMALL {
            let (i, s) = class(size);
            assert!(s >= size && s % G == 0, "{size} -> {s}");
            assert!(
                s - size <= (size / 4).max(G - 1),
                "{size} -> {s}: too much lost"
            );
            assert!(i < CLASSES);
            assert!(i == last.0 || i == last.0 + 1, "{size}: index jumps");
            assert!(i != last.0 || s == last.1, "{size}: one index, two sizes");
            last = (i, s);
        }
        assert_eq!(class(SMALL).1, SMALL);
    }

    #[test]
    fn blocks_are_reused_aligned_and_large_ones_mapped() {
        let a = Small::new();
        unsafe {
            let l = Layout::from_size_align(40, 8).unwrap();
            let p = a.alloc(l);
            assert_eq!(p as usize % G, 0);
            p.write_bytes(7, 40);
            a.dealloc(p, l);
            assert_eq!(
                a.alloc(Layout::from_size_align(33, 8).unwrap()),
                p,
                "same class reused"
            );
            // Grows in place within a class, moves (keeping the bytes) beyond it.
            let q = a.alloc(Layout::from_size_align(100, 8).unwrap());
            q.write_bytes(9, 100);
            let q = a.realloc(q, Layout::from_size_align(100, 8).unwrap(), 5000);
            assert_eq!(q as usize % PAGE, 0);
            assert!((0..100).all(|k| *q.add(k) == 9));
            let q = a.realloc(q, Layout::from_size_align(5000, 8).unwrap(), 70_000);
            assert!((0..100).all(|k| *q.add(k) == 9));
            let q = a.realloc(q, Layout::from_size_align(70_000, 8).unwrap(), 24);
            assert!((0..24).all(|k| *q.add(k) == 9));
            a.dealloc(q, Layout::from_size_align(24, 8).unwrap());
            // A freed large block is kept and handed out again, zeroed when
            // asked; after release_cached, freed blocks are unmapped.
            let big = Layout::from_size_align(3 * PAGE, 8).unwrap();
            let b = a.alloc(big);
            b.write_bytes(5, big.size());
            a.dealloc(b, big);
            let c = a.alloc_zeroed(big);
            assert_eq!(c, b, "a kept mapping of that size is reused");
            assert!((0..big.size()).all(|k| *c.add(k) == 0));
            a.dealloc(c, big);
            a.release_cached();
            let d = a.alloc(Layout::from_size_align(3 * PAGE, 8).unwrap());
            assert!(a.with(|s| s.cache.iter().all(|c| c.0 == 0)));
            a.dealloc(d, big);
            assert!(
                a.with(|s| s.cache.iter().all(|c| c.0 == 0)),
                "nothing kept once released"
            );
            let z = a.alloc_zeroed(Layout::from_size_align(64, 8).unwrap());
            assert!((0..64).all(|k| *z.add(k) == 0));
            // Many blocks: past one chunk, all distinct and writable.
            let l = Layout::from_size_align(1000, 8).unwrap();
            let ps: Vec<_> = (0..200).map(|_| a.alloc(l)).collect();
            for (k, p) in ps.iter().enumerate() {
                p.write_bytes(k as u8, 1000);
            }
            for (k, p) in ps.iter().enumerate() {
                assert_eq!(*p.add(999), k as u8);
            }
        }
    }
}
