//! Embeds the Fennel compiler and our Fennel library into `upscript`.
//!
//! - `fennel.lua` comes from `FENNEL_LUA` (a Nix build or a distribution passes
//!   it) or from `build/fennel/fennel.lua` (put there by `scripts/fetch-fennel`).
//!   It is stored xz-compressed and inflated only when Fennel source must be
//!   compiled at run time.
//! - Every `fennel/**/*.fnl` outside `fennel/tests/` is compiled to Lua here,
//!   with a host Lua 5.1, and stored compressed: a `require` at run time costs
//!   no compilation. Lua source, not bytecode, because bytecode is not portable
//!   between the build host and MIPS.
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=FENNEL_LUA");
    println!("cargo:rerun-if-changed=fennel");
    println!("cargo:rerun-if-changed=build/fennel/fennel.lua");

    let fennel_path = match std::env::var_os("FENNEL_LUA") {
        Some(p) => PathBuf::from(p),
        None => manifest.join("build/fennel/fennel.lua"),
    };
    let fennel_src = match std::fs::read(&fennel_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "upd build: cannot read {} ({e}): run scripts/fetch-fennel, or set FENNEL_LUA=/path/to/fennel.lua",
                fennel_path.display()
            );
            std::process::exit(1);
        }
    };
    std::fs::write(out.join("fennel.lua.xz"), xz(&fennel_src)).unwrap();

    // `unsafe_new` loads `debug`, which fennel.lua needs.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    let fennel: mlua::Table = lua
        .load(&fennel_src[..])
        .set_name("@fennel.lua")
        .call(())
        .unwrap_or_else(|e| fail(&format!("loading {}: {e}", fennel_path.display())));
    let compile: mlua::Function = fennel.get("compileString").unwrap();

    let mut sources = Vec::new();
    collect_fnl(&manifest.join("fennel"), &manifest.join("fennel"), &mut sources);
    sources.sort();
    let mut table = String::from("pub static MODULES: &[(&str, &str, &[u8])] = &[\n");
    for rel in &sources {
        let module = rel.trim_end_matches(".fnl").replace('/', ".");
        let src = std::fs::read_to_string(manifest.join("fennel").join(rel)).unwrap();
        let opts = lua.create_table().unwrap();
        opts.set("filename", format!("fennel/{rel}")).unwrap();
        opts.set("correlate", true).unwrap();
        opts.set("error-pinpoint", false).unwrap();
        let lua_src: String = compile
            .call((src, opts))
            .unwrap_or_else(|e| fail(&format!("{e}")));
        let file = out.join(format!("{module}.lua.xz"));
        std::fs::write(&file, xz(lua_src.as_bytes())).unwrap();
        writeln!(table, "    ({module:?}, {rel:?}, include_bytes!({:?})),", file.display().to_string()).unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out.join("embedded.rs"), table).unwrap();
}

fn fail(msg: &str) -> ! {
    eprintln!("upd build: {}", msg.lines().next().unwrap_or(msg));
    std::process::exit(1);
}

/// The `.fnl` files of our library and services, as paths relative to `fennel/`.
fn collect_fnl(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if rel != "tests" {
                collect_fnl(root, &path, out);
            }
        } else if rel.ends_with(".fnl") && !rel.ends_with("-macros.fnl") {
            out.push(rel);
        }
    }
}

/// xz with a dictionary no larger than the input: the decoder then allocates
/// only that much, which matters on a 32 MB router.
fn xz(data: &[u8]) -> Vec<u8> {
    // 9 | LZMA_PRESET_EXTREME (liblzma's flag; xz2 does not export it).
    let mut opts = xz2::stream::LzmaOptions::new_preset(9 | 0x8000_0000).unwrap();
    let dict = (data.len() as u32).next_power_of_two().clamp(4096, 1 << 20);
    opts.dict_size(dict);
    let mut filters = xz2::stream::Filters::new();
    filters.lzma2(&opts);
    let stream = xz2::stream::Stream::new_stream_encoder(&filters, xz2::stream::Check::None).unwrap();
    let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
