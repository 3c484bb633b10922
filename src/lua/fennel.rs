//! `require "fennel"`: the embedded compiler, loaded on demand.
//!
//! Most of a Fennel script's start-up is here: inflating fennel.lua's main
//! chunk (about 220 KB of Lua from 51 KB of LZMA) and parsing it. The Lua
//! parser reads the chunk through a reader, piece by piece, as it is
//! inflated: no buffer holds the whole source. With more than one CPU online
//! the inflating runs in a forked child that writes into a pipe, so that it
//! overlaps the parsing (the parser is the slower of the two: the start-up
//! then costs about the parse alone); with one CPU that would only add a
//! fork, so it runs here. After the main chunk come the built-in macros'
//! sources (`embed::FENNEL_PIECES`, see build.rs `split_fennel`), read whole.
use std::ffi::{c_char, c_void};
use std::io::{self, Read, Write};

use mlua::{ffi, Function, Lua, Result, Table, Value};

use crate::embed;
use crate::sys::proc as sys;

/// How much of the source the parser gets at a time.
const PIECE: usize = 16 * 1024;

/// Where the inflated compiler comes from.
enum Inflater {
    Here(embed::ModuleReader),
    /// A forked child inflating into a pipe; reaped on drop (closing the
    /// pipe first, so that a child still writing gets EPIPE and exits).
    Child(Option<std::fs::File>, i32),
}

impl Inflater {
    fn start(m: embed::Module) -> io::Result<Inflater> {
        if sys::online_cpus() > 1 && std::env::var_os("UPD_INFLATE_HERE").is_none() {
            let forked = sys::fork_producer(|out| {
                // Not io::copy: its kernel-copy machinery for files costs
                // kilobytes of code, for a pipe it could not use anyway.
                let Ok(mut r) = m.reader() else { return false };
                let mut buf = vec![0; PIECE];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => return true,
                        Ok(n) if out.write_all(&buf[..n]).is_ok() => {}
                        _ => return false,
                    }
                }
            });
            // No fork (a process limit, no memory): inflate here instead.
            if let Ok((pipe, pid)) = forked {
                return Ok(Inflater::Child(Some(std::fs::File::from(pipe)), pid));
            }
        }
        Ok(Inflater::Here(m.reader()?))
    }
}

impl Read for Inflater {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Inflater::Here(r) => r.read(buf),
            Inflater::Child(Some(f), _) => f.read(buf),
            Inflater::Child(None, _) => Ok(0),
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        if let Inflater::Child(pipe, pid) = self {
            drop(pipe.take());
            sys::wait_pid(*pid);
        }
    }
}

/// What `lua_load` pulls the main chunk from: `left` more bytes of `src`.
struct ChunkReader<'a> {
    src: &'a mut Inflater,
    left: usize,
    buf: Vec<u8>,
    err: Option<io::Error>,
}

unsafe extern "C-unwind" fn read_chunk(
    _: *mut ffi::lua_State,
    ud: *mut c_void,
    size: *mut usize,
) -> *const c_char {
    // SAFETY: `ud` is the `ChunkReader` that `load_main` passed to lua_load.
    let r = unsafe { &mut *(ud as *mut ChunkReader) };
    let want = r.left.min(r.buf.len());
    let n = if want == 0 {
        0
    } else {
        match r.src.read(&mut r.buf[..want]) {
            Ok(0) => {
                r.err = Some(io::ErrorKind::UnexpectedEof.into());
                0
            }
            Ok(n) => n,
            Err(e) => {
                r.err = Some(e);
                0
            }
        }
    };
    r.left -= n;
    // SAFETY: lua_load gives us where to write the size.
    unsafe { *size = n };
    r.buf.as_ptr() as *const c_char
}

/// Parses the main chunk as it is inflated.
fn load_main(lua: &Lua, src: &mut Inflater) -> Result<Function> {
    let mut reader = ChunkReader {
        src,
        left: embed::FENNEL_MAIN_LEN as usize,
        buf: vec![0; PIECE],
        err: None,
    };
    let ud = &mut reader as *mut ChunkReader as *mut c_void;
    // SAFETY: lua_load pushes the function or an error message; on error we
    // raise it, which `exec_raw` catches. Nothing here needs dropping.
    let loaded = unsafe {
        lua.exec_raw::<Function>((), |state| {
            if ffi::lua_load(state, read_chunk, ud, c"@fennel.lua".as_ptr()) != 0 {
                ffi::lua_error(state);
            }
        })
    };
    match reader.err.take() {
        Some(e) => Err(mlua::Error::runtime(format!("inflating fennel.lua: {e}"))),
        None => loaded,
    }
}

/// `require "fennel"`, and the `require` of the modules fennel.lua loads
/// lazily (`name` says which): one Rust function for all, as each costs
/// code. The collector is stopped while the compiler loads: it makes almost
/// no garbage, so collecting would be wasted start-up time.
pub fn load(lua: &Lua, name: Value) -> Result<Value> {
    if let Some(m) = name
        .as_string()
        .and_then(|n| embed::fennel_lazy(&n.to_str().ok()?))
    {
        let src = m.source().map_err(mlua::Error::external)?;
        return lua.load(&src[..]).set_name("@fennel.lua").call(());
    }
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    let this: Value = preload.get("fennel")?;
    for lazy in embed::FENNEL_LAZY {
        preload.set(lazy.0, &this)?;
    }
    let mut src = Inflater::start(embed::fennel_main()).map_err(mlua::Error::external)?;
    lua.gc_stop();
    // The parser fills its memory at once: mapped populated (src/alloc.rs).
    let loaded = crate::alloc::populate_while(|| {
        let main = load_main(lua, &mut src)?;
        // The built-in macros' sources: the main chunk takes them from
        // these globals and clears them.
        for &(global, n) in embed::FENNEL_PIECES {
            let mut piece = vec![0; n as usize];
            src.read_exact(&mut piece).map_err(mlua::Error::external)?;
            lua.globals().raw_set(global, lua.create_string(&piece)?)?;
        }
        drop(src);
        main.call(())
    });
    lua.gc_restart();
    loaded
}
