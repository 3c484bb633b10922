# Evaluation tests of fennel.nix (nix/check runs them: nix-instantiate --eval).
# Each case is { expr; expected; }; the result lists the failures (empty: all
# passed).
let
  f = import ./fennel.nix;
  cases = {
    plainString = { expr = f.toFennel "eth0"; expected = ''"eth0"''; };
    quoteAndBackslash = { expr = f.toFennel ''a"b\c''; expected = ''"a\"b\\c"''; };
    newlineTab = { expr = f.toFennel "x\ny\tz\r"; expected = ''"x\ny\tz\r"''; };
    controlThenDigit = {
      expr = f.toFennel (builtins.fromJSON ''"\u00011"'');
      expected = ''"\0011"'';
    };
    del = { expr = f.toFennel (builtins.fromJSON ''"\u007f"''); expected = ''"\127"''; };
    utf8Untouched = { expr = f.toFennel "café"; expected = ''"café"''; };
    numbersBools = { expr = f.toFennel [ 1 (-2) true false null ]; expected = "[1 -2 true false nil]"; };
    keys = {
      expr = f.toFennel { b = 1; a = "x"; "stop-timeout" = 5; "with space" = 1; "1" = 2; };
      expected = ''{"1" 2 :a "x" :b 1 :stop-timeout 5 "with space" 1}'';
    };
    nullAttrDropped = { expr = f.toFennel { a = null; b = 1; }; expected = "{:b 1}"; };
    nested = { expr = f.toFennel { env = { A = "1"; }; args = [ "x" [ ] ]; }; expected = ''{:args ["x" []] :env {:A "1"}}''; };
    servicesFile = {
      expr = f.servicesFile {
        pppoe = { script = "pppoe"; args = [ "eth0" "ppp0" ]; };
        eth0 = { script = "netdev"; args = [ "eth0" ]; };
      };
      expected = ''
        [{:args ["eth0"] :name "eth0" :script "netdev"}
         {:args ["eth0" "ppp0"] :name "pppoe" :script "pppoe"}]
      '';
    };
    servicesEmpty = { expr = f.servicesFile { }; expected = "[]\n"; };
    unknownKeyRejected = {
      expr = (builtins.tryEval (f.servicesFile { x = { script = "s"; bogus = 1; }; })).success;
      expected = false;
    };
    missingScriptRejected = {
      expr = (builtins.tryEval (f.servicesFile { x = { args = [ ]; }; })).success;
      expected = false;
    };
  };
  failures = builtins.filter (n: cases.${n}.expr != cases.${n}.expected) (builtins.attrNames cases);
in
map (n: { name = n; got = cases.${n}.expr; expected = cases.${n}.expected; }) failures
