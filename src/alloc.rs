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
//! - Giving back (`trim`): after a spike (a big feed parsed, a big table
//!   built and dropped), the free lists hold what the heap's peak was. A
//!   trim counts, in a temporary table with one counter per page of the
//!   chunks' span, the free bytes of every page (two walks over the free
//!   lists, no sorting). Two or more wholly free pages in a row are a run:
//!   its blocks leave the lists (a block crossing the run's edge is cut, its
//!   outside part stays listed), its pages but the first go back to the
//!   system (`madvise(MADV_DONTNEED)`: they read as zeros when touched
//!   again), and the first keeps the run's (next, end) record. New blocks are
//!   carved from the runs, lowest first, before any new chunk, and what is
//!   left of a chunk or run too small for a request goes on the free lists,
//!   cut into the largest classes that fit. Trims happen after a full
//!   collection (`collectgarbage()`, src/lua/memory.rs) and before a
//!   blocking wait of the event loop (`idle`), when at least `TRIM_MIN`
//!   (`IDLE_TRIM`) more bytes were freed since the last trim: never on the
//!   allocation path.
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

use crate::sys::mem as sys;

/// The size-class granularity and alignment: what malloc guarantees.
const G: usize = 2 * std::mem::size_of::<usize>();
/// Up to this, a request is a small block; above, its own mapping.
pub const SMALL: usize = 2048;
/// Address space taken at a time for small blocks (resident only as used).
const CHUNK: usize = 64 * 1024;
const PAGE: usize = 4096;
const CLASSES: usize = 32;
/// The classes up to `8 * G` are every multiple of `G`.
const LINEAR: usize = 8;
/// A trim is worth its sort when the free lists hold at least this much.
pub const TRIM_MIN: usize = 64 * 1024;
/// The event loop trims before waiting when this much is free (`idle`).
const IDLE_TRIM: usize = 256 * 1024;

/// A size class: (index, block size). `size` is 1..=SMALL.
fn class(size: usize) -> (usize, usize) {
    if size <= LINEAR * G {
        let i = size.div_ceil(G);
        (i - 1, i * G)
    } else {
        // b = floor(log2(size - 1)) >= log2(8 * G); steps of 2^(b-2).
        let b = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
        let step = 1 << (b - 2);
        let rounded = (size + step - 1) & !(step - 1);
        let lin_log = (LINEAR * G).trailing_zeros() as usize;
        (
            LINEAR + 4 * (b - lin_log) + (rounded >> (b - 2)) - 5,
            rounded,
        )
    }
}

/// The block size of class `i` (the inverse of `class`).
fn class_size(i: usize) -> usize {
    if i < LINEAR {
        (i + 1) * G
    } else {
        let j = i - LINEAR;
        let lin_log = (LINEAR * G).trailing_zeros() as usize;
        (j % 4 + 5) << (lin_log + j / 4 - 2)
    }
}

/// The largest class whose blocks fit in `n` bytes (`n` >= G).
fn class_within(n: usize) -> usize {
    let (i, s) = class(n.min(SMALL));
    if s > n {
        i - 1
    } else {
        i
    }
}

/// Freed large mappings kept for reuse: at most this many, each at most
/// `CACHE_MAX` bytes.
const CACHED: usize = 8;
const CACHE_MAX: usize = 256 * 1024;

/// A run of free whole pages left by a trim: its record sits in its first
/// page.
#[repr(C)]
struct Free {
    next: *mut Free,
    end: usize,
}

struct State {
    free: [*mut u8; CLASSES],
    /// Bytes on the free lists.
    listed: usize,
    /// Where the next block is carved from: the current chunk or run.
    next: usize,
    end: usize,
    /// Runs of free pages left by a trim, lowest first.
    runs: *mut Free,
    /// The span of the chunks' addresses (what a trim's page table covers).
    lo: usize,
    hi: usize,
    /// `listed` after the last trim: the next is worth it when much more
    /// was freed since.
    trimmed: usize,
    /// Freed large mappings: (address, length in bytes); 0 is an empty slot.
    cache: [(usize, usize); CACHED],
    /// Whether new mappings come populated (`populate_while`).
    populate: bool,
    /// Whether freed large mappings are kept (until `release_cached`).
    caching: bool,
}

impl State {
    /// Puts the block `p` (of class `i`) on its free list.
    unsafe fn push(&mut self, i: usize, p: *mut u8) {
        *p.cast::<*mut u8>() = self.free[i];
        self.free[i] = p;
        self.listed += class_size(i);
    }

    /// Cuts `at..end` into blocks of the largest classes that fit, onto the
    /// free lists.
    unsafe fn spill(&mut self, mut at: usize, end: usize) {
        while end - at >= G {
            let i = class_within(end - at);
            self.push(i, at as *mut u8);
            at += class_size(i);
        }
    }

    /// A new block of `size` bytes carved from the current chunk or run, the
    /// next run, or a new chunk (null: no memory).
    unsafe fn carve(&mut self, size: usize) -> *mut u8 {
        while self.end - self.next < size {
            self.spill(self.next, self.end);
            if let Some(run) = self.runs.as_mut() {
                self.runs = run.next;
                self.next = run as *mut Free as usize;
                self.end = run.end;
            } else {
                let c = sys::map(CHUNK, self.populate);
                if c.is_null() {
                    self.next = 0;
                    self.end = 0;
                    return c;
                }
                self.next = c as usize;
                self.end = self.next + CHUNK;
                self.lo = if self.lo == 0 {
                    self.next
                } else {
                    self.lo.min(self.next)
                };
                self.hi = self.hi.max(self.end);
            }
        }
        let p = self.next as *mut u8;
        self.next += size;
        p
    }

    /// Gives the whole free pages of the small heap back (see the module's
    /// comment). Returns how many bytes went back.
    unsafe fn trim(&mut self) -> usize {
        let lo = self.lo;
        let npages = (self.hi - lo) / PAGE;
        // One counter per page of the heap's span: its free bytes.
        let table_len = pages(npages * 2);
        let table = sys::map(table_len, false).cast::<u16>();
        if npages == 0 || table.is_null() {
            return 0;
        }
        let count = std::slice::from_raw_parts_mut(table, npages);
        let mut cover = |from: usize, to: usize| {
            let mut at = from;
            while at < to {
                let page_end = (at & !(PAGE - 1)) + PAGE;
                let n = page_end.min(to) - at;
                count[(at - lo) / PAGE] += n as u16;
                at += n;
            }
        };
        // Pass 1: what is free, page by page: the lists, the runs, the rest
        // of the current chunk or run.
        for i in 0..CLASSES {
            let mut p = self.free[i];
            while !p.is_null() {
                cover(p as usize, p as usize + class_size(i));
                p = *p.cast::<*mut u8>();
            }
        }
        let mut r = self.runs;
        let mut already = 0;
        while let Some(run) = r.as_ref() {
            cover(r as usize, run.end);
            already += run.end - r as usize - PAGE;
            r = run.next;
        }
        cover(self.next, self.end);
        // Runs: two or more whole free pages in a row. A page of a run is
        // marked by a count of 0xffff (more than a page holds).
        let full = PAGE as u16;
        let mut i = 0;
        while i < npages {
            let mut j = i;
            while j < npages && count[j] == full {
                j += 1;
            }
            if j - i >= 2 {
                count[i..j].fill(u16::MAX);
            }
            i = j.max(i + 1);
        }
        let in_run = |at: usize| count[(at - lo) / PAGE] == u16::MAX;
        // Pass 2: the blocks in runs leave the lists; their parts outside
        // (a block crossing a run's first or last page boundary) are cut
        // into smaller blocks.
        for i in 0..CLASSES {
            let size = class_size(i);
            let mut p = std::mem::replace(&mut self.free[i], null_mut());
            while !p.is_null() {
                let next = *p.cast::<*mut u8>();
                let (a, e) = (p as usize, p as usize + size);
                let last = e - 1;
                if !in_run(a) && !in_run(last) {
                    *p.cast::<*mut u8>() = self.free[i];
                    self.free[i] = p;
                } else {
                    self.listed -= size;
                    let boundary = (last & !(PAGE - 1)).max(a);
                    let mut spill = [(0, 0); 2];
                    if !in_run(a) {
                        spill[0] = (a, boundary);
                    }
                    if !in_run(last) {
                        spill[1] = (boundary, e);
                    }
                    for (from, to) in spill {
                        if to > from {
                            self.spill(from, to);
                        }
                    }
                }
                p = next;
            }
        }
        // The rest of the current chunk or run, outside the runs.
        let (next, end) = (self.next, self.end);
        self.next = 0;
        self.end = 0;
        let mut at = next;
        while at < end {
            let page_end = ((at & !(PAGE - 1)) + PAGE).min(end);
            if !in_run(at) {
                self.spill(at, page_end);
            }
            at = page_end;
        }
        // The runs: their pages back to the system but the first, which
        // keeps the run's record.
        self.runs = null_mut();
        let mut tail: *mut *mut Free = &mut self.runs;
        let mut given = 0;
        let mut i = 0;
        while i < npages {
            if count[i] != u16::MAX {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < npages && count[j] == u16::MAX {
                j += 1;
            }
            let start = lo + i * PAGE;
            let end = lo + j * PAGE;
            sys::drop_pages((start + PAGE) as *mut u8, end - start - PAGE);
            given += end - start - PAGE;
            let run = start as *mut Free;
            (*run).next = null_mut();
            (*run).end = end;
            *tail = run;
            tail = &mut (*run).next;
            i = j;
        }
        sys::unmap(table.cast(), table_len);
        self.trimmed = self.listed;
        given.saturating_sub(already)
    }
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
                listed: 0,
                next: 0,
                end: 0,
                runs: null_mut(),
                lo: 0,
                hi: 0,
                trimmed: 0,
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
            unsafe { sys::drop_pages(tail.0 as *mut u8, tail.1 - tail.0) };
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
                unsafe { sys::unmap(at as *mut u8, len) };
            }
        }
    }

    /// Gives the small heap's whole free pages back to the system if at
    /// least `min` more bytes were freed since the last trim; how many bytes
    /// went back.
    pub fn trim(&self, min: usize) -> usize {
        // SAFETY: the lock is held; the lists and runs are all ours.
        self.with(|s| {
            if s.listed >= s.trimmed.saturating_add(min) {
                unsafe { s.trim() }
            } else {
                0
            }
        })
    }

    /// Bytes on the free lists (for tests and `upd.memory`).
    pub fn listed(&self) -> usize {
        self.with(|s| s.listed)
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
            None => (sys::map(len, starting), false),
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
            sys::unmap(at as *mut u8, len);
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
            if p.is_null() {
                return s.carve(size);
            }
            s.free[i] = *p.cast::<*mut u8>();
            s.listed -= size;
            s.trimmed = s.trimmed.min(s.listed);
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
        self.with(|s| s.push(i, p))
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let nl = Layout::from_size_align_unchecked(new, l.align());
        match (is_small(&l), is_small(&nl)) {
            (true, true) if class(l.size().max(1)).0 == class(new.max(1)).0 => return p,
            (false, false) => return sys::remap(p, pages(l.size()), pages(new)),
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
/// reuse are given back, and no more are kept; so is what start-up freed.
pub fn release_cached() {
    GLOBAL.release_cached();
    GLOBAL.trim(TRIM_MIN);
}

/// Runs `f` (loading the Fennel compiler) with new mappings populated.
pub fn populate_while<R>(f: impl FnOnce() -> R) -> R {
    GLOBAL.populate_while(f)
}

/// After a full collection: gives the free pages back if enough is free.
pub fn trim() -> usize {
    GLOBAL.trim(TRIM_MIN)
}

/// Before the event loop blocks: gives the free pages back if much is free
/// (what the collector freed since the last time: after a spike).
pub fn idle() {
    GLOBAL.trim(IDLE_TRIM);
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
    fn class_size_inverts_class_and_spills_fit() {
        for i in 0..CLASSES {
            assert_eq!(class(class_size(i)), (i, class_size(i)), "class {i}");
        }
        for n in (G..=4 * SMALL).step_by(G) {
            let i = class_within(n);
            assert!(class_size(i) <= n, "{n}");
            assert!(i == class(SMALL).0 || class_size(i + 1) > n, "{n}");
        }
    }

    #[test]
    fn a_trim_gives_free_pages_back_and_keeps_live_blocks() {
        let a = Small::new();
        let small = Layout::from_size_align(48, 8).unwrap();
        let mid = Layout::from_size_align(700, 8).unwrap();
        unsafe {
            // A spike: 1.7 MB of small blocks, most freed again.
            let mut blocks: Vec<(*mut u8, Layout)> = Vec::new();
            for k in 0..20_000 {
                let l = if k % 3 == 0 { mid } else { small };
                let p = a.alloc(l);
                p.write_bytes((k % 251) as u8 + 1, l.size());
                blocks.push((p, l));
            }
            let mut live = Vec::new();
            for (k, (p, l)) in blocks.into_iter().enumerate() {
                if k % 500 == 0 {
                    live.push((k, p, l));
                } else {
                    a.dealloc(p, l);
                }
            }
            let freed = a.listed();
            assert_eq!(a.trim(1 << 30), 0, "under the threshold: no trim");
            let given = a.trim(0);
            assert!(given > freed / 2, "gave back {given} of {freed} free bytes");
            assert_eq!(a.trim(TRIM_MIN), 0, "nothing freed since: no trim");
            assert_eq!(a.trim(0), 0, "nothing freed since: nothing to give");
            for (k, p, l) in &live {
                let want = (k % 251) as u8 + 1;
                assert!(
                    (0..l.size()).all(|i| *p.add(i) == want),
                    "block {k} changed"
                );
            }
            // New blocks come from the runs first: pages given back read
            // as zeros (the freed blocks held a pattern).
            let (lo, hi) = a.with(|s| (s.lo, s.hi));
            let again: Vec<_> = (0..20_000).map(|_| a.alloc(small)).collect();
            let inside = again
                .iter()
                .filter(|p| (lo..hi).contains(&(**p as usize)))
                .count();
            assert!(inside > 15_000, "only {inside} blocks reuse the heap");
            let zero = again
                .iter()
                .filter(|p| (0..48).all(|i| *p.add(i) == 0))
                .count();
            assert!(zero > 10_000, "only {zero} blocks from pages given back");
            for (k, p) in again.iter().enumerate() {
                p.write_bytes(k as u8, 48);
            }
            for (k, p) in again.iter().enumerate() {
                assert!(
                    (0..48).all(|i| *p.add(i) == k as u8),
                    "block {k} overlaps another"
                );
            }
            for (k, p, l) in &live {
                let want = (k % 251) as u8 + 1;
                assert!(
                    (0..l.size()).all(|i| *p.add(i) == want),
                    "block {k} overwritten"
                );
            }
        }
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
