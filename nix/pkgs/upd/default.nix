# upd (the static `upscript` binary, also run as `upd`), packaged the way
# Liminix and nixpkgs package things: pkgs/NAME/default.nix, called with
# callPackage from whatever package set (native or cross) the caller has; no
# <nixpkgs>, no crossSystem here. In a Liminix overlay:
#   upd = final.callPackage ./pkgs/upd { };
#
# Toolchain: nixpkgs' stable rustc (rustPlatform), with the size profile of
# Cargo.toml's [profile.release] (opt-level "z", LTO, one codegen unit,
# panic = "abort", stripped). The nightly-only flags of .cargo/router.toml
# (-Zlocation-detail=none, -Zfmt-debug=none, panic=immediate-abort,
# build-std) are not used: they need a nightly compiler that nixpkgs does
# not ship; docs/emulated-router.md says what they are worth in bytes.
# MIPS is a tier-3 Rust target: nixpkgs' cross rustc builds std for it.
#
# build.rs compiles upd's Fennel library with fennel.lua in a host Lua 5.1
# (vendored); fennel.lua is taken from the build platform's `fennel`
# package (nixpkgs' or an overlay's), so the build needs no network.
{
  lib,
  stdenv,
  rustPlatform,
  buildPackages,
  fennel ? buildPackages.fennel,
}:
let
  root = ../../..;
  # Only what the build reads. Not .cargo/: it holds the qemu runners for
  # the MIPS targets, and nixpkgs' cargo setup hook writes its own
  # [target.<triple>] tables into .cargo/config(.toml) (a second table of
  # the same name is a TOML error); not rust-toolchain.toml (rustup's).
  src = lib.cleanSourceWith {
    src = root;
    filter =
      path: type:
      let
        rel = lib.removePrefix (toString root + "/") (toString path);
      in
      builtins.any (p: rel == p || lib.hasPrefix (p + "/") rel) [
        "Cargo.toml"
        "Cargo.lock"
        "build.rs"
        "src"
        "fennel"
      ];
  };
in
rustPlatform.buildRustPackage {
  pname = "upd";
  version = (lib.importTOML (root + "/Cargo.toml")).package.version;
  inherit src;
  cargoLock.lockFile = root + "/Cargo.lock";

  # fennel.lua's directory names the Lua version fennel was built for
  # (share/lua/5.x): find it rather than guess.
  preBuild = ''
    FENNEL_LUA=$(find ${fennel}/share/lua -name fennel.lua | head -n 1)
    if [ -z "$FENNEL_LUA" ]; then
      echo "upd: no fennel.lua under ${fennel}/share/lua" >&2
      exit 1
    fi
    export FENNEL_LUA
  '';

  # The tests run the binary: only where the build machine can execute it.
  doCheck = stdenv.buildPlatform.canExecute stdenv.hostPlatform;

  postInstall = ''
    ln -s upscript $out/bin/upd
  '';

  passthru = { inherit fennel; };

  meta = {
    description = "Service monitor for small Linux routers, scripted in Fennel";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "upd";
  };
}
