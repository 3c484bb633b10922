# The longrun of `system.service.upd` (module.nix), called by Liminix's
# callService with the checked parameters.
#
# The daemons the services run are named by store path, put before each
# service's own args (options may come anywhere in them and the last one
# wins, so a service's args can still override these):
#   pppoe    --mode pty --pppoe PPPOE/bin/pppoe --pppd PPP/bin/pppd
#            (Liminix's kernel has no PPPoE: pppd runs rp-pppoe on a pty)
#   odhcp6c  --odhcp6c ODHCP6C/bin/odhcp6c
#   nat      --nft NFTABLES/bin/nft
#   lan      --dnsmasq DNSMASQ/bin/dnsmasq
# each only when the package set has the package (else upd looks the program
# up on PATH, as its docs say).
{
  liminix,
  lib,
  writeText,
  callPackage,
  runCommand,
  buildPackages,
  upd ? callPackage ../pkgs/upd { },
  # upscript for the build machine, of the same source: its compiler and
  # embedded macros are the router's.
  buildUpd ? buildPackages.upd or (buildPackages.callPackage ../pkgs/upd { }),
  ppp ? null,
  pppoe ? null,
  odhcp6c ? null,
  nftables ? null,
  dnsmasq ? null,
}:
{ services, root }:
let
  inherit (liminix.services) longrun;
  given = p: args: if p == null then [ ] else args;
  programs = {
    pppoe =
      given pppoe [ "--mode" "pty" "--pppoe" "${pppoe}/bin/pppoe" ] ++ given ppp [ "--pppd" "${ppp}/bin/pppd" ];
    odhcp6c = given odhcp6c [ "--odhcp6c" "${odhcp6c}/bin/odhcp6c" ];
    nat = given nftables [ "--nft" "${nftables}/bin/nft" ];
    lan = given dnsmasq [ "--dnsmasq" "${dnsmasq}/bin/dnsmasq" ];
  };
  # A .fnl script given as a path is compiled here, once (docs/upscript.md,
  # "At image build time"): the router runs the Lua, without the compiler.
  fnlName = script: builtins.match "(.*)\\.fnl" (baseNameOf (toString script));
  compiled =
    script:
    runCommand "${builtins.head (fnlName script)}.lua" { nativeBuildInputs = [ buildUpd ]; } ''
      upscript fennel.lua --correlate --compile ${script} > $out
    '';
  # Only for an embedded module named by a string; a script given as a
  # path is the user's own file, copied into the store (the router has no
  # copy of the machine's path).
  withPrograms =
    svc:
    let
      script = svc.script or null;
    in
    if builtins.isPath script && fnlName script != null then
      svc // { script = "${compiled script}"; }
    else if builtins.isPath script then
      svc // { script = "${script}"; }
    else if builtins.isString script && programs ? ${script} && programs.${script} != [ ] then
      svc // { args = programs.${script} ++ (svc.args or [ ]); }
    else
      svc;
  servicesText = (import ../fennel.nix).servicesFile (builtins.mapAttrs (_: withPrograms) services);
  servicesFile = writeText "upd-services.fnl" servicesText;
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
// {
  # The services file's text, for checks (nix/eval-test.nix).
  inherit servicesText;
}
