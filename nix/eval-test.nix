# Evaluates default.nix and module.nix against stub-pkgs.nix (nix/check).
let
  pkgs = import ./stub-pkgs.nix;
  upd = import ./default.nix { inherit pkgs; };
  module = import ./module.nix {
    services = {
      eth0 = { script = "netdev"; args = [ "eth0" ]; };
      pppoe = { script = "pppoe"; args = [ "eth0" "ppp0" ]; };
    };
  };
  system = module pkgs { } { packages = [ "busybox" ]; etc = { hosts = { content = ""; }; }; };
  # The filter keeps what the build reads and drops the rest.
  keep = rel: upd.src.filter (toString ./.. + "/" + rel) "regular";
in
{
  pname = upd.pname;
  version = upd.version;
  fennel = upd.FENNEL_LUA;
  filter = map keep [ "Cargo.toml" "src/main.rs" "fennel/pppoe.fnl" "target/x" "build/qemu/base.cpio.gz" "qemu-tests/run" ];
  services = system.etc."upd/services.fnl".content;
  hosts = system.etc ? hosts;
  packages = map toString system.packages;
  start = system.services.upd.start;
  hook = system.filesystem."usr/libexec/upd/ppp-ip-up".target;
}
