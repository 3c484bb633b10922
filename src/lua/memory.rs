//! Lua's memory: its own allocator function, so that running out of memory
//! (the system's, or the process's limit) is a Lua error a script can catch
//! (`not enough memory`, as with `lua5.1`), never an abort; the limit itself
//! (`upd.memory-limit`, env `UPD_MEMORY_LIMIT` from the services file's
//! `:memory-limit`); and `collectgarbage`, which gives the freed pages back
//! after a full collection (src/alloc.rs, "trim").
//!
//! mlua's allocator calls Rust's `handle_alloc_error` (an abort) when the
//! global allocator fails. Ours returns null, which Lua turns into a memory
//! error, and it counts Lua's bytes against the limit. With a foreign
//! allocator installed mlua pushes its error handlers under `lua_cpcall`,
//! so that an allocation failure there is caught too.
use std::alloc::Layout;
use std::ffi::{c_int, c_void};

use mlua::{ffi, Lua, Result};

/// What Lua has allocated, and the most it may (0: no limit).
struct Budget {
    used: usize,
    limit: usize,
}

/// The alignment Lua's blocks get (what mlua's allocator used, so that the
/// blocks it allocated before ours took over are freed alike).
const ALIGN: usize = ffi::SYS_MIN_ALIGN;

unsafe extern "C" fn lua_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the `Budget` that `install` gave this state; Lua calls
    // its allocator from one thread at a time.
    let b = unsafe { &mut *ud.cast::<Budget>() };
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize == 0 {
        if !ptr.is_null() {
            // SAFETY: a block of `osize` bytes from this allocator (or
            // mlua's: the same global allocator, the same alignment).
            unsafe {
                std::alloc::dealloc(ptr.cast(), Layout::from_size_align_unchecked(osize, ALIGN))
            };
            b.used -= osize.min(b.used);
        }
        return std::ptr::null_mut();
    }
    if nsize > old && b.limit != 0 && b.used + (nsize - old) > b.limit {
        return std::ptr::null_mut();
    }
    // SAFETY: as above; sizes are not zero.
    let p = unsafe {
        if ptr.is_null() {
            std::alloc::alloc(Layout::from_size_align_unchecked(nsize, ALIGN))
        } else {
            std::alloc::realloc(
                ptr.cast(),
                Layout::from_size_align_unchecked(osize, ALIGN),
                nsize,
            )
        }
    };
    if p.is_null() {
        // Lua 5.1 assumes a block never fails to shrink: the old one does.
        return if nsize <= old { ptr } else { p.cast() };
    }
    b.used = b.used - old.min(b.used) + nsize;
    p.cast()
}

/// Gives `lua` our allocator, with the limit from env `UPD_MEMORY_LIMIT`
/// if it is set (then removed, so that the limit stays this process's).
pub fn install(lua: &Lua) -> Result<()> {
    let limit = match std::env::var("UPD_MEMORY_LIMIT") {
        Ok(s) => {
            std::env::remove_var("UPD_MEMORY_LIMIT");
            parse_size(&s).ok_or_else(|| {
                mlua::Error::runtime(format!(
                    "UPD_MEMORY_LIMIT: bad size {s:?} (bytes, or a number with K, M or G)"
                ))
            })?
        }
        Err(_) => 0,
    };
    // SAFETY: the state is ours and idle; the budget lives as long as the
    // state (it is never freed: lua_close still frees through it).
    unsafe {
        lua.exec_raw::<()>((), |state| {
            let kb = ffi::lua_gc(state, ffi::LUA_GCCOUNT, 0) as usize;
            let rest = ffi::lua_gc(state, ffi::LUA_GCCOUNTB, 0) as usize;
            let budget = Box::into_raw(Box::new(Budget {
                used: kb * 1024 + rest,
                limit,
            }));
            ffi::lua_setallocf(state, lua_alloc, budget.cast());
        })?;
    }
    Ok(())
}

/// `4096`, `"64K"`, `"16M"`, `"1G"` as bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

/// The budget of the state `L` runs in, if it has our allocator.
unsafe fn budget(state: *mut ffi::lua_State) -> Option<&'static mut Budget> {
    let mut ud = std::ptr::null_mut();
    let f = ffi::lua_getallocf(state, &mut ud);
    if std::ptr::fn_addr_eq(f, lua_alloc as ffi::lua_Alloc) {
        ud.cast::<Budget>().as_mut()
    } else {
        None
    }
}

/// `(upd.memory-limit ?bytes)`: sets the most Lua may allocate (a number of
/// bytes, or a string such as `"16M"`; 0 or `false`: no limit) and returns
/// the previous limit (0 for none) and the bytes in use now. An allocation
/// past the limit fails as when the system has no memory left: a Lua error
/// `not enough memory` that `pcall` catches.
unsafe extern "C-unwind" fn memory_limit(state: *mut ffi::lua_State) -> c_int {
    let Some(b) = budget(state) else {
        return ffi::luaL_error(
            state,
            c"upd.memory-limit: not upscript's allocator".as_ptr(),
        );
    };
    let old = b.limit;
    match ffi::lua_type(state, 1) {
        ffi::LUA_TNONE | ffi::LUA_TNIL => {}
        ffi::LUA_TBOOLEAN if ffi::lua_toboolean(state, 1) == 0 => b.limit = 0,
        ffi::LUA_TNUMBER => {
            let n = ffi::lua_tonumber(state, 1);
            if n.is_nan() || n < 0.0 {
                return ffi::luaL_argerror(state, 1, c"a size in bytes".as_ptr());
            }
            b.limit = n as usize;
        }
        ffi::LUA_TSTRING => {
            let mut len = 0;
            let p = ffi::lua_tolstring(state, 1, &mut len);
            let s = std::slice::from_raw_parts(p.cast::<u8>(), len);
            match std::str::from_utf8(s).ok().and_then(parse_size) {
                Some(n) => b.limit = n,
                None => return ffi::luaL_argerror(state, 1, c"a size such as 16M".as_ptr()),
            }
        }
        _ => return ffi::luaL_argerror(state, 1, c"a size in bytes".as_ptr()),
    }
    ffi::lua_pushnumber(state, old as f64);
    ffi::lua_pushnumber(state, b.used as f64);
    2
}

/// Lua 5.1's `collectgarbage`, which also gives the freed memory back to
/// the system when a full cycle ended (`"collect"`, or a `"step"` that
/// finished one).
unsafe extern "C-unwind" fn collectgarbage(state: *mut ffi::lua_State) -> c_int {
    const OPTS: [*const std::ffi::c_char; 8] = [
        c"stop".as_ptr(),
        c"restart".as_ptr(),
        c"collect".as_ptr(),
        c"count".as_ptr(),
        c"step".as_ptr(),
        c"setpause".as_ptr(),
        c"setstepmul".as_ptr(),
        std::ptr::null(),
    ];
    const NUM: [c_int; 7] = [
        ffi::LUA_GCSTOP,
        ffi::LUA_GCRESTART,
        ffi::LUA_GCCOLLECT,
        ffi::LUA_GCCOUNT,
        ffi::LUA_GCSTEP,
        ffi::LUA_GCSETPAUSE,
        ffi::LUA_GCSETSTEPMUL,
    ];
    let o = NUM[ffi::luaL_checkoption(state, 1, c"collect".as_ptr(), OPTS.as_ptr()) as usize];
    let ex = ffi::luaL_optinteger(state, 2, 0) as c_int;
    let res = ffi::lua_gc(state, o, ex);
    match o {
        ffi::LUA_GCCOUNT => {
            let b = ffi::lua_gc(state, ffi::LUA_GCCOUNTB, 0);
            ffi::lua_pushnumber(state, res as f64 + b as f64 / 1024.0);
        }
        ffi::LUA_GCSTEP => {
            if res != 0 {
                crate::alloc::trim();
            }
            ffi::lua_pushboolean(state, res);
        }
        _ => {
            if o == ffi::LUA_GCCOLLECT {
                crate::alloc::trim();
            }
            ffi::lua_pushnumber(state, res as f64);
        }
    }
    1
}

/// Replaces the base library's `collectgarbage` with ours.
pub fn register(lua: &Lua) -> Result<()> {
    // SAFETY: a C function that follows the Lua API's rules.
    let f = unsafe { lua.create_c_function(collectgarbage)? };
    lua.globals().raw_set("collectgarbage", f)
}

/// `upd.core`'s `memory-limit`.
pub fn limit_function(lua: &Lua) -> Result<mlua::Function> {
    // SAFETY: as above.
    unsafe { lua.create_c_function(memory_limit) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size(" 16m "), Some(16 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("M"), None);
    }
}
