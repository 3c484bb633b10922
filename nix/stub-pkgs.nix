# A tiny stand-in for the parts of nixpkgs that default.nix and module.nix use,
# so nix/check can evaluate them (names, interpolations, the services file)
# without nixpkgs. It checks the expressions, not nixpkgs' behaviour.
let
  removePrefix = p: s:
    let n = builtins.stringLength p; in
    if builtins.substring 0 n s == p then builtins.substring n (-1) s else s;
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  lib = {
    inherit removePrefix hasPrefix;
    cleanSourceWith = { src, filter }: { inherit src filter; };
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    recursiveUpdate = a: b: a // b;
    licenses.mit = "mit";
    platforms.linux = [ "mipsel-linux" ];
  };
  platform = { canExecute = _: false; };
in
{
  inherit lib;
  stdenv = { buildPlatform = platform; hostPlatform = platform; };
  buildPackages.lua51Packages.fennel = "/nix/store/stub-fennel";
  rustPlatform.buildRustPackage = args: args // { outPath = "/nix/store/stub-upd"; };
  writeScript = name: text: "/nix/store/stub-${name}";
}
