//! `upscript`: runs Fennel and Lua scripts with upd's primitives; under the
//! name `upd` it is the supervisor and console tool. One binary, to save flash.
//! The command line itself is interpreted by the embedded Fennel module
//! `upd.launcher`; this file only builds the Lua state and hands it argv.
#![deny(unsafe_code)]
use std::os::unix::ffi::OsStrExt;

/// Lua's memory too: it returns what start-up freed (src/alloc.rs). The
/// `alloc-*` features put another in its place, for bench/alloc-compare.
#[cfg(not(any(
    feature = "alloc-dlmalloc",
    feature = "alloc-talc",
    feature = "alloc-rlsf"
)))]
#[global_allocator]
static ALLOC: upd::alloc::Global = upd::alloc::Global;
#[cfg(feature = "alloc-dlmalloc")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;
#[cfg(feature = "alloc-rlsf")]
#[global_allocator]
static ALLOC: rlsf::SmallGlobalTlsf = rlsf::SmallGlobalTlsf::new();
#[cfg(feature = "alloc-talc")]
mod talc_choice;
#[cfg(feature = "alloc-talc")]
#[global_allocator]
static ALLOC: talc_choice::Talc = talc_choice::new();

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .map(|a| {
            a.as_bytes()
                .rsplit(|&b| b == b'/')
                .next()
                .unwrap_or(b"")
                .to_vec()
        })
        .unwrap_or_default();
    let mode = if invoked_as == b"upd" {
        "upd"
    } else {
        "upscript"
    };
    std::process::exit(match run(mode, &argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("upscript: {e}");
            1
        }
    });
}

fn run(mode: &str, argv: &[std::ffi::OsString]) -> mlua::Result<i32> {
    let lua = upd::lua::new_state()?;
    let words = lua.create_table()?;
    for a in argv.iter().skip(1) {
        words.raw_push(lua.create_string(a.as_bytes())?)?;
    }
    let exe = lua.create_string(argv.first().map(|a| a.as_bytes()).unwrap_or(b"upscript"))?;
    let launcher: mlua::Table = lua.load("return require('upd.launcher')").call(())?;
    let main: mlua::Function = launcher.get("main")?;
    let code: Option<i32> = main.call((mode, exe, words))?;
    Ok(code.unwrap_or(0))
}
