# A tiny stand-in for the parts of nixpkgs and Liminix that pkgs/upd and
# liminix/ use, so nix/check can evaluate them in CI without either tree
# (nix/eval-test.nix). It checks our expressions (names, interpolations, the
# services file, the hooks), not nixpkgs' or Liminix's behaviour: that is
# nix/eval-liminix.nix's job, run when the real trees are given.
let
  removePrefix =
    p: s:
    let
      n = builtins.stringLength p;
    in
    if builtins.substring 0 n s == p then builtins.substring n (-1) s else s;
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  lib = {
    inherit removePrefix hasPrefix;
    cleanSourceWith = { src, filter }: { inherit src filter; };
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    licenses.mit = "mit";
    platforms.linux = [ "mipsel-linux" ];
    mkOption = o: o;
    types = {
      str = "str";
      bool = "bool";
      anything = "anything";
      attrsOf = t: "attrsOf ${t}";
    };
  };
  platform = {
    canExecute = _: false;
  };
  drv = name: { type = "derivation"; outPath = "/nix/store/stub-${name}"; inherit name; };
  self = {
    inherit lib;
    callPackage = f: args: import f (builtins.intersectAttrs (builtins.functionArgs (import f)) self // args);
    stdenv = {
      buildPlatform = platform;
      hostPlatform = platform;
    };
    buildPackages = {
      fennel = drv "fennel";
      upd = drv "upd-build";
    };
    runCommand = name: env: text: drv name // env // { inherit text; };
    # The daemons liminix/service.nix names (Liminix's ppp and rp-pppoe,
    # odhcp6c; nixpkgs' nftables and dnsmasq).
    ppp = drv "ppp";
    pppoe = drv "rp-pppoe";
    odhcp6c = drv "odhcp6c";
    nftables = drv "nftables";
    dnsmasq = drv "dnsmasq";
    rustPlatform.buildRustPackage = args: args // drv "upd";
    writeScript = name: text: drv name // { inherit text; };
    writeText = name: text: drv name // { inherit text; };
    pseudofile = {
      dir = contents: { type = "d"; inherit contents; };
      symlink = target: { type = "s"; inherit target; };
    };
    liminix = {
      lib.types.serviceDefn = "serviceDefn";
      services.longrun = args: args // drv args.name // { serviceType = "longrun"; };
    };
  };
in
self
