//! Embeds the Fennel compiler and our Fennel library into `upscript`.
//!
//! - `fennel.lua` comes from `FENNEL_LUA` (a Nix build or a distribution passes
//!   it) or from `build/fennel/fennel.lua` (put there by `scripts/fetch-fennel`).
//!   It is stored LZMA-compressed and inflated only when Fennel source must be
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
    std::fs::write(out.join("fennel.lua.lzma"), lzma(&fennel_src)).unwrap();

    // `unsafe_new` loads `debug`, which fennel.lua needs.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    let fennel: mlua::Table = lua
        .load(&fennel_src[..])
        .set_name("@fennel.lua")
        .call(())
        .unwrap_or_else(|e| fail(&format!("loading {}: {e}", fennel_path.display())));
    let compile: mlua::Function = fennel.get("compileString").unwrap();

    let mut sources = Vec::new();
    collect_fnl(
        &manifest.join("fennel"),
        &manifest.join("fennel"),
        &mut sources,
    );
    sources.sort();
    // Modules are compressed together, a few streams of them, because one
    // stream per module lost a third to what every module repeats. A require
    // inflates its stream only up to the end of the module: the modules every
    // script loads come first, in a stream of their own; the tools (the rest
    // of `upd.*`) are another; the services, which load only themselves, are
    // cut into streams of at most SERVICES_STREAM bytes, which bounds what a
    // service's start inflates for nothing.
    let mut streams: Vec<Vec<u8>> = vec![Vec::new(), Vec::new()];
    let mut entries: Vec<Vec<(String, String, usize, usize)>> = vec![Vec::new(), Vec::new()];
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
        let group = if EVERY_SCRIPT.contains(&module.as_str()) {
            0
        } else if module.starts_with("upd.") {
            1
        } else {
            let last = streams.len() - 1;
            if last < 2 || streams[last].len() + lua_src.len() > SERVICES_STREAM {
                streams.push(Vec::new());
                entries.push(Vec::new());
            }
            streams.len() - 1
        };
        entries[group].push((module, rel.clone(), streams[group].len(), lua_src.len()));
        streams[group].extend_from_slice(lua_src.as_bytes());
    }
    // In the order of EVERY_SCRIPT: an earlier one is inflated more often.
    entries[0].sort_by_key(|e| EVERY_SCRIPT.iter().position(|m| *m == e.0));
    let hot = std::mem::take(&mut streams[0]);
    for e in entries[0].iter_mut() {
        let at = streams[0].len();
        streams[0].extend_from_slice(&hot[e.2..e.2 + e.3]);
        e.2 = at;
    }
    let mut table = String::from("pub static STREAMS: &[&[u8]] = &[\n");
    for (i, data) in streams.iter().enumerate() {
        let file = out.join(format!("modules{i}.lzma"));
        std::fs::write(&file, lzma(data)).unwrap();
        writeln!(
            table,
            "    include_bytes!({:?}),",
            file.display().to_string()
        )
        .unwrap();
    }
    table.push_str("];\n");
    table.push_str("pub static MODULES: &[(&str, &str, u8, u32, u32)] = &[\n");
    for (i, group) in entries.iter().enumerate() {
        for (module, rel, at, len) in group {
            writeln!(table, "    ({module:?}, {rel:?}, {i}, {at}, {len}),").unwrap();
        }
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
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if rel != "tests" {
                collect_fnl(root, &path, out);
            }
        } else if rel.ends_with(".fnl") && !rel.ends_with("-macros.fnl") {
            out.push(rel);
        }
    }
}

/// The modules every script loads, most often required first.
const EVERY_SCRIPT: &[&str] = &[
    "upd.launcher",
    "upd",
    "upd.path",
    "upd.policy",
    "upd.process",
];

/// The most Lua source in one stream of services (a service alone may be more).
const SERVICES_STREAM: usize = 40 * 1024;

/// `.lzma` (LZMA1, no checksums: the data is in the binary, and the decoder
/// then links no CRC tables), with a dictionary no larger than the input: the
/// decoder allocates only that much, which matters on a 32 MB router.
fn lzma(data: &[u8]) -> Vec<u8> {
    // 9 | LZMA_PRESET_EXTREME (liblzma's flag; xz2 does not export it).
    let mut opts = xz2::stream::LzmaOptions::new_preset(9 | 0x8000_0000).unwrap();
    opts.dict_size((data.len() as u32).clamp(4096, 1 << 20));
    // Text has no 4-byte structure: pb=0 is a little smaller.
    opts.position_bits(0);
    let stream = xz2::stream::Stream::new_lzma_encoder(&opts).unwrap();
    let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
