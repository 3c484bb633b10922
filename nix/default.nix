# Builds upd (the static `upscript` binary, also run as `upd`) with nixpkgs,
# cross-compiled for a router. Not built on the machine that wrote it (see
# docs/emulated-router.md): only parsed by nix/check.
#
#   nix-build nix                                   # mipsel, musl (the default)
#   nix-build nix --argstr target mips-unknown-linux-musl   # big-endian MIPS
#   nix-build nix --arg crossSystem null            # the build machine itself
#
# build.rs compiles the Fennel library with fennel.lua in a host Lua 5.1; the
# compiler comes from nixpkgs' fennel through FENNEL_LUA, so the build needs no
# network. MIPS is a tier-3 Rust target: nixpkgs builds the standard library for
# it as part of its cross rustc.
{ nixpkgs ? <nixpkgs>
, target ? "mipsel-unknown-linux-musl"
, crossSystem ? { config = target; }
, pkgs ? import nixpkgs ({ } // (if crossSystem == null then { } else { inherit crossSystem; }))
}:
let
  inherit (pkgs) lib stdenv;
  fennel = pkgs.buildPackages.lua51Packages.fennel;
  root = ./..;
  # Only what the build reads: no target/, build/, qemu-tests/ or .git.
  src = lib.cleanSourceWith {
    src = root;
    filter = path: type:
      let rel = lib.removePrefix (toString root + "/") (toString path); in
      builtins.any (p: rel == p || lib.hasPrefix (p + "/") rel)
        [ "Cargo.toml" "Cargo.lock" "build.rs" "src" "fennel" ".cargo" ];
  };
in
pkgs.rustPlatform.buildRustPackage {
  pname = "upd";
  version = (lib.importTOML ../Cargo.toml).package.version;
  inherit src;
  cargoLock.lockFile = ../Cargo.lock;

  FENNEL_LUA = "${fennel}/share/lua/5.1/fennel.lua";

  # The unit tests run the binary: only when the build machine can execute it.
  doCheck = stdenv.buildPlatform.canExecute stdenv.hostPlatform;

  postInstall = ''
    ln -s upscript $out/bin/upd
    mkdir -p $out/share/upd
    cp fennel/*.fnl $out/share/upd/
  '';

  meta = {
    description = "upd: a service monitor for small Linux routers, scripted in Fennel";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "upscript";
  };
}
