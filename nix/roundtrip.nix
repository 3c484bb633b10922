# A services set with awkward strings, for nix/check's round trip: rendered by
# fennel.nix, read back by the Fennel compiler, compared with Nix's own JSON.
let
  f = import ./fennel.nix;
  weird = "q\"b\\s\nn\tt\rr" + builtins.fromJSON ''"\u00012\u001f\u007f7"'' + " é ]} ;; :x";
  services = {
    "wan.pppoe" = { script = "pppoe"; args = [ "eth0" "ppp0" "--" "user" weird ]; env = { PATH = "/bin"; "A B" = "1"; }; };
    eth0 = { script = "netdev"; args = [ "eth0" ]; private = true; "stop-timeout" = 3; };
  };
  asList = map (n: { name = n; } // services.${n}) (builtins.attrNames services);
in
{ fennel = f.servicesFile services; json = builtins.toJSON asList; }
