//! What build.rs embedded: the Fennel compiler and our Fennel library, both as
//! LZMA-compressed Lua source. Nothing is inflated until it is required.

/// The Fennel compiler (`fennel.lua`), LZMA-compressed.
pub static FENNEL_LUA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fennel.lua.lzma"));

// `STREAMS`: the compressed streams of modules. `MODULES`: (module name,
// source path under fennel/, stream, offset and length of its Lua source in
// the inflated stream).
include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// An embedded module: where its Lua source is.
pub struct Module {
    /// Its source path under `fennel/`, for chunk names.
    pub path: &'static str,
    stream: &'static [u8],
    at: u32,
    len: u32,
}

impl Module {
    /// Its Lua source: its stream inflated up to the module's end only.
    pub fn source(&self) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0; self.len as usize];
        if out.is_empty() {
            return Ok(out);
        }
        let mut dec = Decoder::new(self.stream)?;
        let mut skip = self.at as usize;
        while skip > 0 {
            // What comes before the module: decoded into `out`, then overwritten.
            let n = skip.min(out.len());
            skip -= dec.fill(&mut out[..n])?;
        }
        let mut done = 0;
        while done < out.len() {
            done += dec.fill(&mut out[done..])?;
        }
        Ok(out)
    }
}

/// Finds an embedded module.
pub fn module(name: &str) -> Option<Module> {
    let &(_, path, stream, at, len) = MODULES.iter().find(|m| m.0 == name)?;
    Some(Module {
        path,
        stream: STREAMS.get(stream as usize)?,
        at,
        len,
    })
}

/// Whether `name` is an embedded module (the supervisor checks service names).
pub fn has_module(name: &str) -> bool {
    MODULES.iter().any(|m| m.0 == name)
}

/// Inflates a whole embedded blob.
pub fn inflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = vec![0; data.len() * 4];
    let mut dec = Decoder::new(data)?;
    let mut done = 0;
    loop {
        if done == out.len() {
            out.resize(done * 2, 0);
        }
        match dec.fill(&mut out[done..]) {
            Ok(n) => done += n,
            Err(_) if dec.ended => break,
            Err(e) => return Err(e),
        }
    }
    out.truncate(done);
    Ok(out)
}

/// An `.lzma` stream being decoded by liblzma, whose memory (the dictionary,
/// as large as the stream's text, and the probability tables) comes from the
/// global allocator: blocks that large are their own mappings, returned to
/// the system when the decoder is dropped, where malloc would keep them.
struct Decoder {
    strm: lzma_sys::lzma_stream,
    ended: bool,
}

struct Allocator(lzma_sys::lzma_allocator);
// SAFETY: immutable, and its `opaque` is null.
unsafe impl Sync for Allocator {}

static LZMA_ALLOCATOR: Allocator = Allocator(lzma_sys::lzma_allocator {
    alloc: Some(lzma_alloc),
    free: Some(lzma_free),
    opaque: std::ptr::null_mut(),
});

/// liblzma frees without a size: it is kept in a header of `HEADER` bytes.
const HEADER: usize = 16;

extern "C" fn lzma_alloc(
    _: *mut libc::c_void,
    n: libc::size_t,
    size: libc::size_t,
) -> *mut libc::c_void {
    let Some(size) = n.checked_mul(size).and_then(|s| s.checked_add(HEADER)) else {
        return std::ptr::null_mut();
    };
    let Ok(layout) = std::alloc::Layout::from_size_align(size, HEADER) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `layout` has a non-zero size.
    unsafe {
        let p = std::alloc::alloc(layout);
        if p.is_null() {
            return p.cast();
        }
        p.cast::<usize>().write(size);
        p.add(HEADER).cast()
    }
}

extern "C" fn lzma_free(_: *mut libc::c_void, p: *mut libc::c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `lzma_alloc`, which put the size before it.
    unsafe {
        let p = p.cast::<u8>().sub(HEADER);
        let size = p.cast::<usize>().read();
        std::alloc::dealloc(
            p,
            std::alloc::Layout::from_size_align_unchecked(size, HEADER),
        );
    }
}

impl Decoder {
    fn new(data: &[u8]) -> std::io::Result<Decoder> {
        // SAFETY: an all-zero lzma_stream is LZMA_STREAM_INIT.
        let mut strm: lzma_sys::lzma_stream = unsafe { std::mem::zeroed() };
        strm.allocator = &LZMA_ALLOCATOR.0;
        strm.next_in = data.as_ptr();
        strm.avail_in = data.len();
        let mut d = Decoder { strm, ended: false };
        // SAFETY: `strm` is initialised; `data` is 'static in every caller.
        let ret = unsafe { lzma_sys::lzma_alone_decoder(&mut d.strm, u64::MAX) };
        check(ret)?;
        Ok(d)
    }

    /// Decodes into `buf`; how many bytes (at least one, or an error).
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.strm.next_out = buf.as_mut_ptr();
        self.strm.avail_out = buf.len();
        // SAFETY: `next_out` points to `buf.len()` writable bytes.
        let ret = unsafe { lzma_sys::lzma_code(&mut self.strm, lzma_sys::LZMA_FINISH) };
        let n = buf.len() - self.strm.avail_out;
        self.ended = ret == lzma_sys::LZMA_STREAM_END;
        check(if self.ended { lzma_sys::LZMA_OK } else { ret })?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n)
    }
}

fn check(ret: lzma_sys::lzma_ret) -> std::io::Result<()> {
    if ret == lzma_sys::LZMA_OK {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("lzma: error {ret}")))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised by `lzma_alone_decoder`.
        unsafe { lzma_sys::lzma_end(&mut self.strm) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fennel_compiler_inflates_to_lua_source() {
        let src = inflate(FENNEL_LUA).unwrap();
        assert!(src.len() > 100_000);
        assert!(std::str::from_utf8(&src).unwrap().contains("compileString"));
    }

    #[test]
    fn library_modules_are_embedded_and_inflate() {
        let m = module("upd.launcher").expect("upd.launcher embedded");
        assert_eq!(m.path, "upd/launcher.fnl");
        assert!(!m.source().unwrap().is_empty());
        assert!(
            module("tests.test-test").is_none(),
            "tests are not embedded"
        );
        assert!(!has_module("tests.test-test"));
    }

    #[test]
    fn every_module_inflates_to_exactly_its_lua_chunk() {
        // A wrong offset or length cuts a chunk or glues two: it would not parse.
        let lua = mlua::Lua::new();
        for (name, path, ..) in MODULES {
            let src = module(name).unwrap().source().unwrap();
            lua.load(&src[..])
                .into_function()
                .unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}
