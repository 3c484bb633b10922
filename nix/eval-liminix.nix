# Evaluates liminix/module.nix (and pkgs/upd through it) with a real
# Liminix tree: Liminix's module system entry (modules/base.nix, with its
# callService and option types), its service builders (pkgs/liminix-tools/
# services: longrun) and pseudofile, and nixpkgs' real lib. Derivations of
# nixpkgs itself (rustPlatform, writeScript, s6...) are stand-ins unless
# `nixpkgs` (a full checkout) is given, then rustPlatform and the writers are
# nixpkgs' own. nix/check runs it when LIMINIX and NIXPKGS/NIXPKGS_LIB are set.
{
  liminix,
  nixpkgsLib,
  nixpkgs ? null,
}:
let
  lib = import nixpkgsLib;
  real = if nixpkgs == null then null else import nixpkgs { };
  mk =
    attrs:
    attrs
    // {
      type = "derivation";
      outPath = "/nix/store/stand-in-${attrs.name or attrs.pname}";
      overrideAttrs = f: mk (attrs // f attrs);
    };
  writer = name: text: mk { inherit name text; };
  pkgs = lib.fix (
    self:
    {
      inherit lib;
      callPackage = lib.callPackageWith self;
      stdenvNoCC.mkDerivation = mk;
      stdenv = {
        buildPlatform.canExecute = _: false;
        hostPlatform = { };
      };
      writeScript = writer;
      writeText = writer;
      s6 = mk { name = "s6"; };
      s6-init-bin = mk { name = "s6-init-bin"; };
      execline = mk { name = "execline"; };
      s6-linux-init = mk { name = "s6-linux-init"; };
      s6-rc = mk { name = "s6-rc"; };
      serviceFns = mk { name = "service-fns"; };
      # Liminix's ppp (2.5) and rp-pppoe, and odhcp6c: stand-ins (their
      # derivations need nixpkgs' fetchers and stdenv).
      ppp = mk { name = "ppp"; };
      pppoe = mk { name = "rp-pppoe"; };
      odhcp6c = mk { name = "odhcp6c"; };
      buildPackages.fennel = mk { name = "fennel"; };
      rustPlatform.buildRustPackage = args: mk args;
      pseudofile = self.callPackage (liminix + "/pkgs/pseudofile") { };
      liminix =
        (import (liminix + "/pkgs/default.nix") {
          inherit (self) callPackage lib;
          nixpkgs = null;
        }).liminix;
    }
    // lib.optionalAttrs (real != null) { inherit (real) rustPlatform writeScript writeText stdenv buildPackages; }
  );
  eval = lib.evalModules {
    modules = [
      { _module.args = { inherit pkgs; }; }
      (liminix + "/modules/base.nix")
      (liminix + "/modules/users.nix")
      ./liminix/module.nix
      (
        { config, ... }:
        {
          services.upd = config.system.service.upd.build {
            services = {
              eth0 = {
                script = "netdev";
                args = [ "eth0" ];
              };
              pppoe = {
                script = "pppoe";
                args = [ "eth0" "ppp0" "--ipv6" ];
              };
            };
          };
        }
      )
    ];
  };
  c = eval.config;
  # service.nix called directly (Liminix's build of a service keeps only the
  # derivation): its services file's text.
  direct = pkgs.callPackage ./liminix/service.nix { } {
    services.pppoe = {
      script = "pppoe";
      args = [ "eth0" "ppp0" "--ipv6" ];
    };
    root = "/run/upd";
  };
  svc = c.services.upd;
  hooks = c.filesystem.contents.usr.contents.libexec.contents.upd.contents;
  bad = lib.filter (x: x != null) [
    (if svc.serviceType == "longrun" then null else "serviceType ${svc.serviceType}")
    (if svc.notification-fd == 10 then null else "notification-fd")
    (if lib.hasInfix "upd run --config" svc.run then null else "run: ${svc.run}")
    (if lib.hasInfix "-m odhcp6c" hooks.odhcp6c-script.target.text then null else "odhcp6c hook")
    (if lib.hasInfix "-m ppp-hook up" hooks.ppp-ip-up.target.text then null else "ppp-ip-up hook")
    (if lib.hasInfix "-m ppp-hook ipv6-up" hooks.ppp-ipv6-up.target.text then null else "ppp-ipv6-up hook")
    (if lib.hasInfix "-m ppp-hook ipv6-down" hooks.ppp-ipv6-down.target.text then null else "ppp-ipv6-down hook")
    (if lib.hasInfix ''"--mode" "pty" "--pppoe" "/nix/store/stand-in-rp-pppoe/bin/pppoe"'' direct.servicesText then null else "pppoe not in pty mode: ${direct.servicesText}")
    (if lib.any (p: (p.pname or "") == "upd") c.defaultProfile.packages then null else "upd not in defaultProfile")
  ];
in
{
  ok = bad == [ ];
  inherit bad;
  run = svc.run;
  hooks = builtins.attrNames hooks;
}
