# The longrun of `system.service.upd` (module.nix), called by Liminix's
# callService with the checked parameters.
{
  liminix,
  lib,
  writeText,
  callPackage,
  upd ? callPackage ../pkgs/upd { },
}:
{ services, root }:
let
  inherit (liminix.services) longrun;
  servicesFile = writeText "upd-services.fnl" ((import ../fennel.nix).servicesFile services);
in
longrun {
  name = "upd";
  # upd run writes a newline to NOTIFY_FD once it has started every service
  # of its file (docs/upd.md).
  notification-fd = 10;
  run = ''
    export UPD_ROOT=${root}
    export NOTIFY_FD=10
    exec ${upd}/bin/upd run --config ${servicesFile}
  '';
  # Its tree must not outlive it (a stale `upd` would show dead services).
  finish = ''
    UPD_ROOT=${root} ${upd}/bin/upd withdraw upd 2>/dev/null
  '';
}
