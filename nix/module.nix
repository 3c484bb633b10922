# A NixWRT-style module for upd: turns a Nix attribute set of services into
# /etc/upd/services.fnl and starts `upd run` at boot. Shaped like NixWRT's
# modules (a function of the module's options and nixpkgs, returning an overlay
# `self: super:` of the system configuration that adds packages, /etc files
# and services); the attribute names it sets (packages, etc, services) follow
# NixWRT's configuration and may need adapting to the NixWRT revision at hand.
# Not evaluated against a NixWRT tree here: only parsed by nix/check.
#
#   (import ./nix/module.nix {
#      services = {
#        eth0  = { script = "netdev"; args = [ "eth0" ]; };
#        pppoe = { script = "pppoe";  args = [ "eth0" "ppp0" ]; };
#      };
#    })
#
# Each service: script (an embedded module name such as "pppoe", or a path to a
# .fnl/.lua file), and optionally args (list of strings), env (attrs of
# strings), user, group, private (bool), stop-timeout (seconds). Unknown keys
# are refused at evaluation time, naming the service and the key.
{ services
, configFile ? "/etc/upd/services.fnl"
, root ? "/run/upd"
}:
nixpkgs: self: super:
let
  fennel = import ./fennel.nix;
  upd = import ./default.nix {
    pkgs = nixpkgs;
  };
  lib = nixpkgs.lib;
  hookScript = direction: nixpkgs.writeScript "ppp-ip-${direction}" ''
    #!/bin/sh
    exec ${upd}/bin/upscript -m ppp-hook ${direction} "$@"
  '';
in
lib.recursiveUpdate super {
  packages = (super.packages or [ ]) ++ [ upd ];
  etc = (super.etc or { }) // {
    "${lib.removePrefix "/etc/" configFile}" = {
      content = fennel.servicesFile services;
      mode = "0444";
    };
  };
  # pppd's hooks at the paths the pppoe service passes by default.
  filesystem = (super.filesystem or { }) // {
    "usr/libexec/upd/ppp-ip-up" = { type = "l"; target = "${hookScript "up"}"; };
    "usr/libexec/upd/ppp-ip-down" = { type = "l"; target = "${hookScript "down"}"; };
  };
  services = (super.services or { }) // {
    upd = {
      start = "${upd}/bin/upd run --config ${configFile}";
      env = { UPD_ROOT = root; };
      depends = [ ];
    };
  };
}
