# A convenience entry for building upd with a nixpkgs checkout, cross
# compiled for a router; the package itself is pkgs/upd/default.nix
# (callPackage style, what Liminix or nixpkgs would take).
#
#   nix-build nix                                            # mipsel, musl
#   nix-build nix --argstr target mips-unknown-linux-musl    # big-endian MIPS (ath79)
#   nix-build nix --arg crossSystem null                     # the build machine itself
{
  nixpkgs ? <nixpkgs>,
  target ? "mipsel-unknown-linux-musl",
  crossSystem ? { config = target; },
  pkgs ? import nixpkgs (if crossSystem == null then { } else { inherit crossSystem; }),
}:
pkgs.callPackage ./pkgs/upd { }
