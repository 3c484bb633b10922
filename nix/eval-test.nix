# Evaluates pkgs/upd and liminix/ against stub-pkgs.nix (nix/check, CI).
let
  pkgs = import ./stub-pkgs.nix;
  upd = pkgs.callPackage ./pkgs/upd { };
  # The module, with a config whose callService hands back what it was given.
  config = {
    system.callService = path: parameters: { inherit path parameters; };
  };
  module = import ./liminix/module.nix {
    inherit (pkgs) lib;
    inherit config;
    pkgs = pkgs // { inherit upd; };
  };
  hooks = module.config.filesystem.contents.usr.contents.libexec.contents.upd.contents;
  service = pkgs.callPackage ./liminix/service.nix { inherit upd; } {
    services = {
      eth0 = {
        script = "netdev";
        args = [ "eth0" ];
      };
      pppoe = {
        script = "pppoe";
        args = [ "eth0" "ppp0" "--ipv6" ];
      };
      wan6 = {
        script = "odhcp6c";
        args = [ "ppp0" ];
      };
      kpppoe = {
        script = "pppoe";
        args = [ "eth1" "ppp1" "--mode" "kernel" ];
      };
      mine = {
        script = ./fennel.nix;
      };
      # A .fnl path: compiled at build time, the services file names the Lua.
      minefnl = {
        script = ../tests/host/scripts/sleeper.fnl;
      };
    };
    root = "/run/upd";
  };
  # The filter keeps what the build reads and drops the rest.
  keep = rel: upd.src.filter (toString ./.. + "/" + rel) "regular";
in
{
  pname = upd.pname;
  version = upd.version;
  findsFennel = builtins.match ".*find /nix/store/stub-fennel/share/lua -name fennel.lua.*" upd.preBuild != null;
  filter = map keep [
    "Cargo.toml"
    "src/main.rs"
    "fennel/pppoe.fnl"
    ".cargo/config.toml"
    "rust-toolchain.toml"
    "target/x"
    "qemu-tests/run"
  ];
  serviceOption = builtins.attrNames module.config.system.service.upd.parameters;
  servicePath = baseNameOf (toString module.config.system.service.upd.path);
  hooks = builtins.mapAttrs (n: h: h.target.text) hooks;
  packages = map (p: p.outPath) module.config.defaultProfile.packages;
  longrun = {
    inherit (service) name serviceType notification-fd;
    run = service.run;
    finish = service.finish;
  };
  servicesText = service.servicesText;
  servicesFile = (import ./fennel.nix).servicesFile {
    eth0 = {
      script = "netdev";
      args = [ "eth0" ];
    };
  };
}
