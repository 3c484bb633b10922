//! Memory from the system for the allocator (`src/alloc.rs`), and giving
//! start-up's pages back once a script settles (see docs/design.md, "Memory").

/// A fresh anonymous mapping of `len` bytes (null if the system has none);
/// `populate`: with its pages in place (one system call instead of a page
/// fault per page, for memory used at once).
pub fn map(len: usize, populate: bool) -> *mut u8 {
    let pop = if populate { libc::MAP_POPULATE } else { 0 };
    // SAFETY: a new private mapping; nothing else is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | pop,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps what `map` or `remap` returned.
///
/// # Safety
/// `p..p + len` is a mapping of ours that nothing uses any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    libc::munmap(p.cast(), len);
}

/// Grows or shrinks a mapping, moving it if need be (null if it cannot).
///
/// # Safety
/// `p..p + old` is a mapping of ours; on success it is `new` bytes at the
/// returned address and the old address is no longer valid.
pub unsafe fn remap(p: *mut u8, old: usize, new: usize) -> *mut u8 {
    let q = libc::mremap(p.cast(), old, new, libc::MREMAP_MAYMOVE);
    if q == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        q.cast()
    }
}

/// Gives whole pages of an anonymous mapping back to the system
/// (`MADV_DONTNEED`): they read as zeros when touched again.
///
/// # Safety
/// `p..p + len` is page-aligned, inside a private anonymous mapping of ours,
/// and holds nothing anybody will read before writing.
pub unsafe fn drop_pages(p: *mut u8, len: usize) {
    libc::madvise(p.cast(), len, libc::MADV_DONTNEED);
}

/// Unmaps this process's view of the binary's read-only segments (code and
/// constant data): `madvise(MADV_DONTNEED)`, which on a file mapping only
/// drops the page-table entries. The pages stay in the page cache (shared
/// with every other upscript) and are mapped again, from there, by the next
/// access; what an idle service holds is then what it touched since. Writable
/// segments (data, relocated constants) are left alone: dropping those would
/// lose their contents. Returns how many bytes were covered.
pub fn drop_code_pages(page: usize) -> usize {
    // The ranges are found first and dropped after: the program headers are
    // in the first read-only segment, and reading them again would map it.
    type Ranges = [(usize, usize); 4];
    extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _: libc::size_t,
        ranges: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader's record of the executable (the first object),
        // valid for this call; `ranges` is the array below.
        let (info, ranges) = unsafe { (&*info, &mut *ranges.cast::<Ranges>()) };
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
        let mut slots = ranges.iter_mut();
        for ph in phdrs {
            if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
                continue;
            }
            if let Some(slot) = slots.next() {
                let at = info.dlpi_addr as usize + ph.p_vaddr as usize;
                *slot = (at, at + ph.p_memsz as usize);
            }
        }
        1 // the executable only, not the shared objects of a dynamic build
    }
    let mut ranges: Ranges = [(0, 0); 4];
    // SAFETY: `each` only reads what it is given and writes `ranges`.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut ranges as *mut Ranges).cast()) };
    let mut total = 0;
    for (at, end) in ranges {
        // Whole pages inside the segment only.
        let start = (at + page - 1) & !(page - 1);
        let end = end & !(page - 1);
        // SAFETY: a read-only file mapping of the executable; its pages come
        // back from the file on the next access.
        if end > start
            && unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            } == 0
        {
            total += end - start;
        }
    }
    total
}

/// The page size (`page_size()`), read before anything is dropped: sysconf
/// would map its constants again.
pub fn page_size() -> usize {
    // SAFETY: no arguments to get wrong.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

/// How far below the caller the stack is given back, at most: more than
/// start-up goes below the loop's wait, and well inside an emulator's stack
/// (qemu-user answers `madvise` on unmapped memory with success, not ENOMEM).
const STACK_SPAN: usize = 128 * 1024;

/// Gives back the stack pages below the caller's frame (less two pages, where
/// this function and `madvise` itself have theirs): start-up went deeper (the
/// Lua parser, building `upd.core`) than an idle loop waits, and a page
/// touched once stays resident. On the main thread nothing lives below the
/// stack pointer (the loop's signals come through a signalfd, so no handler
/// runs there; Rust's overflow handler has its own stack), and a page used
/// again is a fresh zero page. Page by page downwards, until the end of the
/// stack's mapping (ENOMEM: a range reaching past it would not be dropped at
/// all) or `STACK_SPAN`. Returns how many bytes were covered.
#[inline(never)]
pub fn drop_unused_stack(page: usize) -> usize {
    let mark = 0u8;
    let here = std::hint::black_box(&mark) as *const u8 as usize;
    let top = (here & !(page - 1)) - 2 * page;
    let mut at = top;
    while top - at < STACK_SPAN {
        // SAFETY: a page below the live frames (see above).
        if unsafe { libc::madvise((at - page) as *mut libc::c_void, page, libc::MADV_DONTNEED) }
            != 0
        {
            break;
        }
        at -= page;
    }
    top - at
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_pages_are_dropped_and_come_back() {
        let n = super::drop_code_pages(super::page_size());
        assert!(n > 64 * 1024, "covered only {n} bytes");
        // Still running, with its constants intact: they came back on demand.
        assert_eq!(format!("{}", 6 * 7), "42");
    }

    #[test]
    fn the_stack_below_is_dropped_and_what_is_above_kept() {
        fn deep(n: u32) -> u32 {
            let buf = std::hint::black_box([n as u8; 512]);
            if n == 0 {
                buf[0] as u32
            } else {
                deep(n - 1) + buf[1] as u32
            }
        }
        // Touch the stack deep down, then drop it from up here.
        assert_eq!(deep(60), (1..=60).sum::<u32>());
        let above = std::hint::black_box([7u8; 64]);
        assert!(super::drop_unused_stack(super::page_size()) >= 16 * 1024);
        assert!(above.iter().all(|&b| b == 7));
        // Deeper again: fresh zero pages, written and read back.
        assert_eq!(deep(100), (1..=100).sum::<u32>());
    }
}
