//! What build.rs embedded: the Fennel compiler and our Fennel library, both as
//! LZMA-compressed Lua source. Nothing is inflated until it is required.
use std::io::Read;

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
        let mut dec = decoder(self.stream)?;
        std::io::copy(
            &mut (&mut dec).take(u64::from(self.at)),
            &mut std::io::sink(),
        )?;
        let mut out = vec![0; self.len as usize];
        dec.read_exact(&mut out)?;
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
    let mut out = Vec::with_capacity(data.len() * 4);
    decoder(data)?.read_to_end(&mut out)?;
    Ok(out)
}

fn decoder(data: &[u8]) -> std::io::Result<xz2::read::XzDecoder<&[u8]>> {
    let stream = xz2::stream::Stream::new_lzma_decoder(u64::MAX)?;
    Ok(xz2::read::XzDecoder::new_stream(data, stream))
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
