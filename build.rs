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
    discard_unused_sections(&out);

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
    // `unsafe_new` loads `debug`, which fennel.lua needs.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    let fennel: mlua::Table = lua
        .load(&fennel_src[..])
        .set_name("@fennel.lua")
        .call(())
        .unwrap_or_else(|e| fail(&format!("loading {}: {e}", fennel_path.display())));
    let compile: mlua::Function = fennel.get("compileString").unwrap();
    // The built-in macros' names, for the main chunk's lazy loading of them.
    let syntax: mlua::Table = fennel
        .get::<mlua::Function>("syntax")
        .and_then(|f| f.call(()))
        .unwrap_or_else(|e| fail(&format!("fennel.syntax: {e}")));
    let mut macro_names: Vec<Vec<u8>> = syntax
        .pairs::<mlua::LuaString, mlua::Table>()
        .filter_map(|kv| kv.ok())
        .filter(|(_, v)| v.get::<bool>("macro?").unwrap_or(false))
        .map(|(k, _)| k.as_bytes().to_vec())
        .collect();
    macro_names.sort();
    let split = split_fennel(&fennel_src, &macro_names);
    let mut fennel_stream = split.main.clone();
    let mut table = String::from("pub static FENNEL_PIECES: &[(&str, u32)] = &[");
    for (i, piece) in split.pieces.iter().enumerate() {
        fennel_stream.extend_from_slice(piece);
        write!(table, "({:?}, {}), ", piece_global(i), piece.len()).unwrap();
    }
    table.push_str("];\npub static FENNEL_LAZY: &[(&str, u32, u32)] = &[\n");
    for (module, body) in &split.lazy {
        let at = fennel_stream.len();
        fennel_stream.extend_from_slice(body);
        writeln!(table, "    ({module:?}, {at}, {}),", body.len()).unwrap();
    }
    table.push_str("];\n");
    writeln!(
        table,
        "pub const FENNEL_MAIN_LEN: u32 = {};",
        split.main.len()
    )
    .unwrap();
    std::fs::write(out.join("fennel.lua.lzma"), lzma(&fennel_stream)).unwrap();
    std::fs::write(out.join("fennel_split.rs"), table).unwrap();

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
    // What a compile cache entry depends on besides its files: this
    // compiler and these embedded modules (macros among them).
    let mut id: u64 = 0xcbf2_9ce4_8422_2325;
    for b in fennel_stream.iter().chain(streams.iter().flatten()) {
        id = (id ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    println!("cargo:rustc-env=UPD_BUILD_ID={id:016x}");
}

/// On the routers (MIPS, panics abort), sections nothing reads at run time
/// are left out of the binary by the linker (an lld script that `INSERT`s a
/// `/DISCARD/` rule into the default layout):
/// - `.pdr`: MIPS procedure descriptors, one 32-byte record per function,
///   for debuggers only. LLVM writes them for every function (C and Rust),
///   and `strip` keeps them: 108 KB of the mipsel binary.
/// - `.eh_frame`, `.eh_frame_hdr`, `.gcc_except_table`: unwind tables. No
///   code unwinds (panics abort at once, Lua errors `longjmp`), and without
///   the tables' references the personality routine and the unwinder it
///   calls are not linked either.
///
/// Only for the binary (not the unit tests, which unwind) and only when the
/// target does not unwind.
fn discard_unused_sections(out: &Path) {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let panic = std::env::var("CARGO_CFG_PANIC").unwrap_or_default();
    if !arch.starts_with("mips") || panic == "unwind" || panic.is_empty() {
        return;
    }
    let script = out.join("discard.ld");
    std::fs::write(
        &script,
        "SECTIONS { /DISCARD/ : { *(.pdr) *(.eh_frame*) *(.gcc_except_table*) } }\n\
         INSERT AFTER .text;\n",
    )
    .unwrap();
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}

/// The modules of fennel.lua that compiling a script does not need: the REPL,
/// and `fennel.friend`, which only formats compile and parse errors.
const FENNEL_LAZY: &[&str] = &["fennel.repl", "fennel.friend"];

/// fennel.lua cut up for a faster start (see `split_fennel`).
struct FennelSplit {
    /// The main chunk: loaded by `require "fennel"`.
    main: Vec<u8>,
    /// The built-in macro modules, Lua source the main chunk held as long
    /// strings; the runtime sets them as globals `piece_global(i)`, which
    /// the main chunk reads and clears on its first line.
    pieces: Vec<Vec<u8>>,
    /// (module, chunk) loaded on first `require`.
    lazy: Vec<(&'static str, Vec<u8>)>,
}

/// Splits fennel.lua so that starting the compiler (most of a Fennel
/// script's start-up) lexes and parses only what compiling needs:
/// - each `FENNEL_LAZY` module's `package.preload` block is blanked out of
///   the main chunk and becomes a chunk of its own, preceded by as many
///   newlines as there were lines before its body; each
///   `local x = require("<module>")` becomes a proxy that requires it on
///   first use. The runtime registers these chunks in `package.preload`.
/// - the built-in macros, Lua source in two long strings that the main
///   chunk hands to `load_macros` (lexed as a string, then parsed), are cut
///   out: the runtime hands them over (src/lua/fennel.rs), already strings,
///   and they are parsed only when a built-in macro's name is first looked
///   up (a metatable on the global scope's macro table).
///
/// Blanked lines stay, as empty lines, so line numbers in tracebacks are
/// fennel.lua's. A fennel.lua whose layout is not the one expected (another
/// version) is embedded whole, with a warning: slower to start, nothing else.
fn split_fennel(src: &[u8], macro_names: &[Vec<u8>]) -> FennelSplit {
    let whole = |why: String| {
        println!("cargo:warning=fennel.lua: {why}: embedded whole (slower start)");
        FennelSplit {
            main: src.to_vec(),
            pieces: Vec::new(),
            lazy: Vec::new(),
        }
    };
    let Ok(text) = std::str::from_utf8(src) else {
        return whole("not UTF-8".into());
    };
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut lazy = Vec::new();
    for &module in FENNEL_LAZY {
        let head = format!(
            "package.preload[\"{module}\"] = package.preload[\"{module}\"] or function(...)"
        );
        let Some(start) = lines.iter().position(|l| *l == head) else {
            return whole(format!("no preload block for {module}"));
        };
        // The block ends at the first top-level `end`.
        let Some(len) = lines[start + 1..].iter().position(|l| l == "end") else {
            return whole(format!("the block of {module} has no end"));
        };
        let end = start + 1 + len;
        let mut body = "\n".repeat(start + 1);
        for l in &lines[start + 1..end] {
            body.push_str(l);
            body.push('\n');
        }
        for l in &mut lines[start..=end] {
            l.clear();
        }
        let want = format!(" = require(\"{module}\")");
        let mut proxies = 0;
        for l in lines.iter_mut() {
            let t = l.trim_start();
            let var = t.strip_prefix("local ").and_then(|r| r.strip_suffix(&want));
            if let Some(var) =
                var.filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                let indent = &l[..l.len() - t.len()];
                *l = format!("{indent}local {var} = {}", lazy_proxy(module));
                proxies += 1;
            }
        }
        if proxies == 0 {
            return whole(format!("{module} is never required"));
        }
        lazy.push((module, body.into_bytes()));
    }
    const OPEN: &str = "load_macros([===[";
    const CLOSE: &str = "]===], env)";
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(at) = lines[i].find(OPEN) else {
            i += 1;
            continue;
        };
        let Some(len) = lines[i..].iter().position(|l| l.trim_start() == CLOSE) else {
            return whole("a macro module's source has no end".into());
        };
        let end = i + len;
        // The long string's exact content: no newline follows `[===[` here.
        let mut piece = lines[i][at + OPEN.len()..].to_owned();
        for l in &lines[i + 1..end] {
            piece.push('\n');
            piece.push_str(l);
        }
        piece.push('\n');
        piece.push_str(&lines[end][..lines[end].len() - CLOSE.len()]);
        pieces.push(piece.into_bytes());
        lines[i] = format!(
            "{}load_macros(__upd_piece{}, env)",
            &lines[i][..at],
            pieces.len()
        );
        for l in &mut lines[i + 1..=end] {
            l.clear();
        }
        i = end + 1;
    }
    if pieces.len() != 2 {
        return whole(format!("{} macro modules, not 2", pieces.len()));
    }
    // The block that loads them, `do ... load_macros(...) ... end`, runs
    // only when a built-in macro's name is first looked up: a script that
    // uses none (and every name that is not one) never parses them.
    let first = lines
        .iter()
        .position(|l| l.contains("load_macros(__upd_piece1"))
        .unwrap_or(0);
    let last = lines
        .iter()
        .position(|l| l.contains("load_macros(__upd_piece2"))
        .unwrap_or(0);
    let open = lines[..first].iter().rposition(|l| l == "do");
    let close = lines[last..]
        .iter()
        .position(|l| l == "end")
        .map(|i| last + i);
    let (Some(open), Some(close)) = (open, close) else {
        return whole("no block around the macro modules".into());
    };
    if macro_names.is_empty() {
        return whole("no built-in macro names".into());
    }
    // fennel.syntax() lists the macros: it loads them first.
    let Some(syntax) = lines.iter().position(|l| l == "local function syntax()") else {
        return whole("no syntax function".into());
    };
    lines[syntax].push_str(&format!(
        " local _ = compiler.scopes.global.macros{}",
        lua_string(&macro_names[0])
    ));
    lines[open] = "do local function __upd_load_macros()".into();
    let mut names = String::new();
    for n in macro_names {
        names.push_str(&lua_string(n));
        names.push_str("=true,");
    }
    lines[close] = format!(
        "end local __upd_macro_names = {{{names}}} \
         setmetatable(compiler.scopes.global.macros, {{__index = function(t, k) \
         if __upd_macro_names[k] then setmetatable(t, nil) __upd_load_macros() return rawget(t, k) end \
         end}}) end"
    );
    // Line 1 is a comment: take the pieces from where the runtime put them
    // (globals, because that costs no code) and clear them at once.
    let (g1, g2) = (piece_global(0), piece_global(1));
    lines[0].insert_str(
        0,
        &format!("local __upd_piece1, __upd_piece2 = {g1}, {g2} {g1}, {g2} = nil, nil "),
    );
    FennelSplit {
        main: lines.join("\n").into_bytes(),
        pieces,
        lazy,
    }
}

fn piece_global(i: usize) -> String {
    format!("__upd_fennel_piece{}", i + 1)
}

/// A Lua string literal (as a table key: `[...]`) for any bytes.
fn lua_string(b: &[u8]) -> String {
    let mut out = String::from("[\"");
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-_?!<>=*/+.%:#~^&|$@".contains(&c) {
            out.push(c as char);
        } else {
            write!(out, "\\{c}").unwrap();
        }
    }
    out.push_str("\"]");
    out
}

/// One line of Lua standing for `require(module)`: a table that requires the
/// module on first use and passes indexing, assignment and calls on to it
/// (the REPL module is a callable table; friend's functions are indexed).
fn lazy_proxy(module: &str) -> String {
    format!(
        "setmetatable({{}}, {{__index = function(_, k) return require({module:?})[k] end, \
         __newindex = function(_, k, v) require({module:?})[k] = v end, \
         __call = function(_, ...) return require({module:?})(...) end}})"
    )
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

/// The modules every script loads, most often required first; then the
/// launcher's Fennel half, which a script compiled at start needs (behind
/// the others, it costs them nothing; in the tools' stream, it would cost
/// inflating the tools before it).
const EVERY_SCRIPT: &[&str] = &[
    "upd.launcher",
    "upd",
    "upd.compile-cache",
    "upd.path",
    "upd.policy",
    "upd.process",
    "upd.launch-fennel",
    "upd.launch-lua",
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
