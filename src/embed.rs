//! What build.rs embedded: the Fennel compiler and our Fennel library, both as
//! LZMA-compressed Lua source. Nothing is inflated until it is required.

use std::io::Read;

/// The Fennel compiler (`fennel.lua`), LZMA-compressed, cut up by build.rs
/// (`split_fennel`): its main chunk, the sources of its built-in macros
/// (`FENNEL_PIECES`), then the modules it loads lazily.
pub static FENNEL_LUA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fennel.lua.lzma"));

// `FENNEL_PIECES` ((global name, length)), `FENNEL_LAZY` ((module name,
// offset, length) in the inflated `FENNEL_LUA`) and `FENNEL_MAIN_LEN`, the
// main chunk's length.
include!(concat!(env!("OUT_DIR"), "/fennel_split.rs"));

/// fennel.lua's main chunk followed by its pieces (`FENNEL_PIECES`).
pub fn fennel_main() -> Module {
    Module {
        path: "fennel.lua",
        stream: FENNEL_LUA,
        at: 0,
        len: FENNEL_PIECES.iter().map(|p| p.1).sum::<u32>() + FENNEL_MAIN_LEN,
    }
}

/// The names of fennel.lua's lazily loaded modules.
pub fn fennel_lazy_names() -> impl Iterator<Item = &'static str> {
    FENNEL_LAZY.iter().map(|m| m.0)
}

/// A module of fennel.lua loaded lazily: a chunk whose line numbers are
/// those of fennel.lua.
pub fn fennel_lazy(name: &str) -> Option<Module> {
    let &(_, at, len) = FENNEL_LAZY.iter().find(|m| m.0 == name)?;
    Some(Module {
        path: "fennel.lua",
        stream: FENNEL_LUA,
        at,
        len,
    })
}

// `STREAMS`: the compressed streams of modules. `MODULES`: (module name,
// source path under fennel/, stream, offset and length of its Lua source in
// the inflated stream).
include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A module's source as it is inflated (a named type: a `dyn Read` would
/// bring every default method of `Read` into the binary).
pub struct ModuleReader {
    dec: Decoder,
    left: usize,
}

impl Read for ModuleReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left);
        if n == 0 {
            return Ok(0);
        }
        let n = self.dec.fill(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

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
        // What comes before the module is decoded into `out` too, then
        // overwritten: large steps, no other buffer.
        self.reader_with(&mut out)?.read_exact(&mut out)?;
        Ok(out)
    }

    /// Its Lua source as it is inflated (for a module at the start of its
    /// stream: what comes before goes through a small buffer).
    pub fn reader(&self) -> std::io::Result<ModuleReader> {
        self.reader_with(&mut [0u8; 512])
    }

    /// A reader at the module's start, what comes before it decoded into
    /// `scratch` and dropped.
    fn reader_with(&self, scratch: &mut [u8]) -> std::io::Result<ModuleReader> {
        let mut dec = Decoder::new(self.stream)?;
        let mut skip = self.at as usize;
        // (An empty `scratch` is an empty module's: nothing to read after.)
        while skip > 0 && !scratch.is_empty() {
            let n = skip.min(scratch.len());
            skip -= dec.fill(&mut scratch[..n])?;
        }
        Ok(ModuleReader {
            dec,
            left: self.len as usize,
        })
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
        let src = fennel_main().source().unwrap();
        let main = &src[..FENNEL_MAIN_LEN as usize];
        assert!(main.len() > 100_000);
        let text = std::str::from_utf8(main).unwrap();
        assert!(text.contains("compileString"));
        // Split as build.rs meant (with Debian's fennel.lua 1.5.3): the
        // REPL and friend are not in the main chunk, only proxies to them,
        // and the macros' sources are pieces apart.
        let lazy: Vec<_> = fennel_lazy_names().collect();
        assert_eq!(lazy, ["fennel.repl", "fennel.friend"]);
        assert!(!text.contains("package.preload[\"fennel.repl\"]"));
        assert!(!text.contains("package.preload[\"fennel.friend\"]"));
        assert!(!text.contains("[===["));
        assert_eq!(FENNEL_PIECES.len(), 2);
        let lua = mlua::Lua::new();
        let mut at = main.len();
        for &(_, n) in FENNEL_PIECES {
            let piece = &src[at..at + n as usize];
            at += n as usize;
            assert!(piece.starts_with(b"local function copy(t)"));
            lua.load(piece).into_function().unwrap();
        }
        assert_eq!(at, src.len());
    }

    #[test]
    fn fennel_lazy_modules_keep_their_line_numbers() {
        let src = fennel_main().source().unwrap();
        let main = &src[..FENNEL_MAIN_LEN as usize];
        let lua = mlua::Lua::new();
        lua.load(main).into_function().unwrap();
        for name in fennel_lazy_names() {
            let src = fennel_lazy(name).unwrap().source().unwrap();
            lua.load(&src[..])
                .into_function()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // Blanked in the main chunk exactly where its body starts.
            let first = src.iter().position(|&b| b != b'\n').unwrap();
            let line = src[..first].iter().filter(|&&b| b == b'\n').count();
            let blank = main.split(|&b| b == b'\n').nth(line);
            assert_eq!(
                blank,
                Some(&b""[..]),
                "{name}: line {} not blank in main",
                line + 1
            );
        }
        assert!(fennel_lazy("fennel.parser").is_none());
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
