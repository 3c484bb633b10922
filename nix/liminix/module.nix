# upd in Liminix: a module adding `system.service.upd`, a parametrisable
# service (Liminix's callService) that runs `upd run` as one s6-rc longrun,
# ready (notification-fd 10, NOTIFY_FD) once every service of its file is
# started, and the hooks the daemons call:
#   /usr/libexec/upd/ppp-ip-up, ppp-ip-down     pppd's ip-up/ip-down scripts (pppoe service)
#   /usr/libexec/upd/ppp-ipv6-up, ppp-ipv6-down pppd's ipv6-up/ipv6-down scripts (pppoe --ipv6;
#                                               Liminix's pppd is 2.5, which has the options)
#   /usr/libexec/upd/odhcp6c-script             odhcp6c's -s script (odhcp6c service)
# and upd on the login shell's PATH (`upd status`, `upd show pppoe`).
#
# In a Liminix configuration (imports = [ ./upd/nix/liminix/module.nix ]):
#   services.upd = svc.upd.build {
#     services = {
#       eth0  = { script = "netdev"; args = [ "eth0" ]; };
#       pppoe = { script = "pppoe";  args = [ "eth0" "ppp0" "--ipv6" ]; };
#     };
#   };
# Liminix's kernel has PPP but no PPPoE: a pppoe service gets `--mode pty
# --pppoe ${pkgs.pppoe}/bin/pppoe --pppd ${pkgs.ppp}/bin/pppd` before its
# own args (which win: `--mode kernel` there takes the plugin again), and
# odhcp6c, nat and lan services the path of their daemon (service.nix).
# Each service: script (an embedded module such as "pppoe", or a path to a
# .fnl/.lua file) and optionally args, env, user, group, private,
# stop-timeout (upd's services file, docs/services-file.md); an unknown key
# is refused at evaluation time, naming the service and the key.
#
# upd comes from pkgs.upd when the package set has it (an overlay calling
# ../pkgs/upd), else from ../pkgs/upd directly.
{
  lib,
  pkgs,
  config,
  ...
}:
let
  inherit (lib) mkOption types;
  inherit (pkgs) liminix;
  inherit (pkgs.pseudofile) dir symlink;
  upd = pkgs.upd or (pkgs.callPackage ../pkgs/upd { });
  hook =
    name: command:
    symlink (
      pkgs.writeScript name ''
        #!/bin/sh
        exec ${upd}/bin/upscript ${command} "$@"
      ''
    );
in
{
  options.system.service.upd = mkOption {
    type = liminix.lib.types.serviceDefn;
  };
  config = {
    system.service.upd = config.system.callService ./service.nix {
      services = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        description = "upd's services, by name (upd's services file as a Nix attribute set)";
        example = {
          eth0 = {
            script = "netdev";
            args = [ "eth0" ];
          };
        };
      };
      root = mkOption {
        type = types.str;
        default = "/run/upd";
        description = "where the services publish their trees (UPD_ROOT)";
      };
    };
    filesystem = dir {
      usr = dir {
        libexec = dir {
          upd = dir {
            ppp-ip-up = hook "ppp-ip-up" "-m ppp-hook up";
            ppp-ip-down = hook "ppp-ip-down" "-m ppp-hook down";
            ppp-ipv6-up = hook "ppp-ipv6-up" "-m ppp-hook ipv6-up";
            ppp-ipv6-down = hook "ppp-ipv6-down" "-m ppp-hook ipv6-down";
            # Without it odhcp6c runs but its events reach nobody: the
            # odhcp6c service stays `starting`.
            odhcp6c-script = hook "odhcp6c-script" "-m odhcp6c";
          };
        };
      };
    };
    defaultProfile.packages = [ upd ];
  };
}
