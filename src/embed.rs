//! What build.rs embedded: the Fennel compiler and our Fennel library, both as
//! xz-compressed Lua source. Nothing is inflated until it is required.
use std::io::Read;

/// The Fennel compiler (`fennel.lua`), xz-compressed.
pub static FENNEL_LUA_XZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fennel.lua.xz"));

// `MODULES`: (module name, source path under fennel/, compressed Lua).
include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Finds an embedded module: its source path (for chunk names) and compressed Lua.
pub fn module(name: &str) -> Option<(&'static str, &'static [u8])> {
    MODULES
        .iter()
        .find(|(m, _, _)| *m == name)
        .map(|(_, path, data)| (*path, *data))
}

/// Whether `name` is an embedded module (the supervisor checks service names).
pub fn has_module(name: &str) -> bool {
    module(name).is_some()
}

/// Inflates an embedded blob.
pub fn inflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() * 4);
    xz2::read::XzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fennel_compiler_inflates_to_lua_source() {
        let src = inflate(FENNEL_LUA_XZ).unwrap();
        assert!(src.len() > 100_000);
        assert!(std::str::from_utf8(&src).unwrap().contains("compileString"));
    }

    #[test]
    fn library_modules_are_embedded_and_inflate() {
        let (path, data) = module("upd.launcher").expect("upd.launcher embedded");
        assert_eq!(path, "upd/launcher.fnl");
        assert!(!inflate(data).unwrap().is_empty());
        assert!(module("tests.test-test").is_none(), "tests are not embedded");
    }
}
