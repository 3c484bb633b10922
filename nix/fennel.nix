# Renders Nix values as Fennel literal data (the format of upd's services file,
# which upd reads as data, never evaluates). Pure: no nixpkgs needed.
#   toFennel { name = "eth0"; args = [ "eth0" ]; }  =>  {:args ["eth0"] :name "eth0"}
# Strings: `\` `"` and control characters are escaped the way Fennel (that is,
# Lua 5.1) reads them: \n \t \r, other control characters as 3-digit \ddd so a
# following digit cannot join the escape. Attribute sets become tables with
# sorted keys (`:key` when the key is a plain word, else a quoted string);
# lists become sequences; null becomes nil; paths become strings.
let
  inherit (builtins) concatStringsSep genList elem filter attrNames isAttrs isList
    isString isInt isFloat isBool isPath isNull isFunction replaceStrings match
    toString fromJSON typeOf throw;

  pad3 = n: if n < 10 then "00${toString n}" else if n < 100 then "0${toString n}" else toString n;
  hex2 = n: let d = "0123456789abcdef"; in
    builtins.substring (n / 16) 1 d + builtins.substring (n - (n / 16) * 16) 1 d;
  # Control characters (no NUL: Nix strings cannot hold it), made from JSON escapes.
  controls = filter (c: !(elem c [ 9 10 13 ])) (genList (i: i + 1) 31 ++ [ 127 ]);
  controlChar = c: fromJSON "\"\\u00${hex2 c}\"";

  escapeString = s:
    "\"" + replaceStrings
      ([ "\\" "\"" "\n" "\t" "\r" ] ++ map controlChar controls)
      ([ "\\\\" "\\\"" "\\n" "\\t" "\\r" ] ++ map (c: "\\" + pad3 c) controls)
      s + "\"";

  # A key Fennel reads as a `:word` string: no spaces, quotes, brackets...
  plainKey = k: match "[A-Za-z_][A-Za-z0-9_?!*+<>=/.-]*" k != null && match ".*[.]$" k == null;
  renderKey = k: if plainKey k then ":" + k else escapeString k;

  toFennel = v:
    if isNull v then "nil"
    else if isBool v then (if v then "true" else "false")
    else if isInt v then toString v
    else if isFloat v then toString v
    else if isString v then escapeString v
    else if isPath v then escapeString (toString v)
    else if isList v then "[" + concatStringsSep " " (map toFennel v) + "]"
    else if isAttrs v then
      "{" + concatStringsSep " "
        (map (k: renderKey k + " " + toFennel v.${k})
          (filter (k: v.${k} != null) (attrNames v))) + "}"
    else throw "toFennel: cannot render a ${typeOf v}";

  # An upd services file from an attribute set of services, each named by its
  # attribute: { pppoe = { script = "pppoe"; args = [ "eth0" "ppp0" ]; }; }.
  # One service per line, in name order.
  servicesFile = services:
    let
      known = [ "script" "args" "env" "user" "group" "private" "stop-timeout" ];
      entry = name: svc:
        let bad = filter (k: !(elem k known)) (attrNames svc); in
        if bad != [ ] then throw "upd services.${name}: unknown key ${builtins.head bad} (known: ${concatStringsSep ", " known})"
        else if !(svc ? script) then throw "upd services.${name}: missing script"
        else toFennel ({ inherit name; } // svc);
      lines = map (n: entry n services.${n}) (attrNames services);
    in
    if lines == [ ] then "[]\n"
    else "[" + concatStringsSep "\n " lines + "]\n";
in
{
  inherit toFennel escapeString servicesFile;
}
