(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local lan (require :lan))
(local odhcp6c (require :odhcp6c))
(local s (t.suite "lan"))

(fn hups [] (icollect [_ k (ipairs fake.kills)] (when (= k.signal :HUP) k)))
(fn content [path] (?. fake.files path :content))
(fn published [key] (. fake.published :lan key))

(fn ip-done! []
  ;; every `ip` command ends well, one after the other (lan runs them in order)
  (var rec (fake.last-spawn "ip"))
  (while (and rec rec.running)
    (fake.exit! rec {:code 0})
    (set rec (fake.last-spawn "ip"))))

(fn ip-commands []
  (icollect [_ c (ipairs (fake.commands))] (when (c:match "^ip ") c)))

(fn dnsmasqs [] (icollect [_ r (ipairs fake.spawns)] (when (= "dnsmasq" (. r.spec.argv 1)) r)))

(fn settle! [] (fake.advance! 0) (ip-done!) (fake.advance! 0) (ip-done!))

(fn setup [?opts]
  (fake.reset!)
  (set fake.link-dump [{:kind :link :ifname "br0" :up false :running false}])
  (let [l (lan.start! (lan.new "/etc/dnsmasq.d/upd.conf" ["odhcp6c-wan" "pppoe"]
                               (or ?opts {:interface "br0"})))]
    (settle!)
    l))

;; what odhcp6c publishes for a lease, through its own parser (the formats
;; odhcp6c really writes)
(fn lease [state env]
  (let [tree (odhcp6c.env->tree state env)]
    (set tree.interface "ppp0")
    tree))

(s:test "start: the interface is brought up, both files written, then dnsmasq runs with them"
        #(do (setup {:interface "br0" :ipv4 "192.168.1.1/24"})
             (t.is= ["ip link set br0 up" "ip addr replace 192.168.1.1/24 dev br0"] (ip-commands))
             (t.is= ["dnsmasq" "--keep-in-foreground" "--conf-file=/etc/dnsmasq.d/upd.conf"
                     "--servers-file=/etc/dnsmasq.d/upd.conf.servers"]
                    (. (fake.last-spawn "dnsmasq") :spec :argv))
             (t.is= "# written by upd lan from odhcp6c-wan, pppoe; do not edit\nenable-ra\ndhcp-range=::,constructor:br0,ra-stateless,64\ndhcp-leasefile=/etc/dnsmasq.d/upd.conf.leases\n"
                    (content "/etc/dnsmasq.d/upd.conf"))
             (t.is= :running (published :state))
             (t.is= false (published :ra))))

(s:test "dnsmasq waits for the interface to exist"
        #(do (fake.reset!)
             (lan.start! (lan.new "/c" ["pppoe"] {:interface "lan0"}))
             (settle!)
             (t.is= [] (dnsmasqs))
             (t.is= :waiting (published :state))
             (fake.netlink! {:kind :link :ifname "lan0" :up false})
             (settle!)
             (t.is= 1 (length (dnsmasqs)))))

(s:test "upstream DNS -> server= lines and one SIGHUP for a burst"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1" "198.51.100.2"]})
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:RDNSS "2001:db8::53"}))
             (settle!)
             (t.is= "# written by upd lan from odhcp6c-wan, pppoe; do not edit\nserver=2001:db8::53\nserver=198.51.100.1\nserver=198.51.100.2\n"
                    (content "/etc/dnsmasq.d/upd.conf.servers"))
             (t.is= 1 (length (hups)) "one reload for a burst of two changes")))

(s:test "a delegated prefix: ::1 of subnet 0 on the LAN with the lease's lifetimes; dnsmasq untouched"
        #(do (setup)
             (let [conf (content "/etc/dnsmasq.d/upd.conf")
                   before (length (ip-commands))]
               (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200,1800,2880"}))
               (settle!)
               (t.is= ["ip -6 addr replace 2001:db8:1200::1/64 dev br0 valid_lft 7200 preferred_lft 3600"
                       "ip -6 route replace unreachable 2001:db8:1200::/56"]
                      [(select (+ before 1) ((or table.unpack _G.unpack) (ip-commands)))])
               (t.is= conf (content "/etc/dnsmasq.d/upd.conf") "the config does not change")
               (t.is= 1 (length (dnsmasqs)) "no restart")
               (t.is= [] fake.kills)
               (t.is= true (published :ra))
               (t.is= [{:address "2001:db8:1200::1" :prefix "2001:db8:1200::" :length 64 :valid 7200
                        :preferred 3600 :delegated "2001:db8:1200::/56"}] (published :addresses)))))

(s:test "the seed's /64 (AAISP): the address ::1 in it; infinite lifetimes are forever"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:8b0:de3a:40dc::/64,4294967295,4294967295"}))
             (settle!)
             (t.is (: (table.concat (ip-commands) "\n") :find
                      "ip -6 addr replace 2001:8b0:de3a:40dc::1/64 dev br0 valid_lft forever preferred_lft forever" 1 true))
             (t.is (not (: (table.concat (ip-commands) "\n") :find "unreachable" 1 true))
                   "no unreachable route for a /64")))

(s:test "renewal: new lifetimes are applied again, the same ones are not"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200"}))
             (settle!)
             (let [n (length (ip-commands))]
               (fake.emit-tree! "odhcp6c-wan" (doto (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200"})
                                                (tset :pid 77)))
               (settle!)
               (t.is= n (length (ip-commands)) "an unrelated change applies nothing")
               (fake.emit-tree! "odhcp6c-wan" (lease :updated {:PREFIXES "2001:db8:1200::/56,3000,6600"}))
               (settle!)
               (t.is= (+ n 1) (length (ip-commands)))
               (t.is= "ip -6 addr replace 2001:db8:1200::1/64 dev br0 valid_lft 6600 preferred_lft 3000"
                      (. (ip-commands) (+ n 1))))))

(s:test "prefix change (the old one with valid 0): old address removed, new one added, no restart"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200"}))
             (settle!)
             (let [n (length (ip-commands))]
               (fake.emit-tree! "odhcp6c-wan" (lease :updated {:PREFIXES "2001:db8:3400::/56,3600,7200,1800,2880 2001:db8:1200::/56,0,0,0,0"}))
               (settle!)
               (let [cmds (table.concat (ip-commands) "\n" (+ n 1))]
                 (t.is (cmds:find "ip -6 addr replace 2001:db8:3400::1/64 dev br0 valid_lft 7200 preferred_lft 3600" 1 true) cmds)
                 (t.is (cmds:find "ip -6 addr del 2001:db8:1200::1/64 dev br0" 1 true) cmds)
                 (t.is (cmds:find "ip -6 route del unreachable 2001:db8:1200::/56" 1 true) cmds)
                 (t.is (not (cmds:find "replace 2001:db8:1200::1" 1 true)) "the withdrawn prefix is not renewed"))
               (t.is= 1 (length (dnsmasqs)))
               (t.is= ["2001:db8:3400::1"] (icollect [_ a (ipairs (published :addresses))] a.address)))))

(s:test "unbound: the prefix is removed from the LAN"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200"}))
             (settle!)
             (fake.emit-tree! "odhcp6c-wan" (lease :unbound {}))
             (settle!)
             (t.is= "ip -6 route del unreachable 2001:db8:1200::/56" (. (ip-commands) (length (ip-commands))))
             (t.is (: (table.concat (ip-commands) "\n") :find "ip -6 addr del 2001:db8:1200::1/64 dev br0" 1 true))
             (t.is= false (published :ra))))

(s:test "an upstream that vanishes (restarting) keeps the LAN's prefix"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200"}))
             (settle!)
             (let [n (length (ip-commands))]
               (fake.emit-tree! "odhcp6c-wan" nil)
               (settle!)
               (t.is= n (length (ip-commands)))
               (t.is= true (published :ra)))))

(s:test "--subnet picks the /64; one that does not fit is an error, not an address"
        #(do (setup {:interface "br0" :subnet 3})
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200 2001:db8:99::/64,3600,7200"}))
             (settle!)
             (let [cmds (table.concat (ip-commands) "\n")]
               (t.is (cmds:find "replace 2001:db8:1200:3::1/64" 1 true) cmds)
               (t.is (not (cmds:find "2001:db8:99:" 1 true)) cmds))
             (t.is (fake.logged? "subnet 3 does not fit in a /64"))))

(s:test "the excluded /64 of a prefix (RFC 6603) is not used on the LAN"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200,excluded=2001:db8:1200::/64"}))
             (settle!)
             (t.is (not (: (table.concat (ip-commands) "\n") :find "addr replace" 1 true)))))

(s:test "a failing ip command is the reason; the next change retries"
        #(do (setup)
             (fake.emit-tree! "odhcp6c-wan" (lease :bound {:PREFIXES "2001:db8:1200::/56,3600,7200"}))
             (fake.advance! 0)
             (fake.exit! (fake.last-spawn "ip") {:code 2})
             (ip-done!)
             (t.is (: (published :reason) :find "ip -6 addr replace 2001:db8:1200::1/64" 1 true))))

(s:test "no reload for unrelated changes"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1"]})
             (settle!)
             (let [writes (length fake.writes)]
               (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1"] :since 99 :pid 7})
               (fake.emit-tree! "odhcp6c-wan" {:state :informed})
               (settle!)
               (t.is= writes (length fake.writes) "nothing rewritten")
               (t.is= 1 (length (hups))))))

(s:test "an upstream going away removes its servers"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1"]})
             (settle!)
             (fake.emit-tree! "pppoe" nil)
             (settle!)
             (t.is (not (string.find (content "/etc/dnsmasq.d/upd.conf.servers") "server=")))
             (t.is= 2 (length (hups)))))

(s:test "garbage in an upstream list is not written into the config"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1\nconf-file=/tmp/evil"]})
             (settle!)
             (t.is (not (string.find (content "/etc/dnsmasq.d/upd.conf.servers") "evil")))))

(s:test "dnsmasq missing: failed with reason; dies: backoff then restart"
        #(do (fake.reset!)
             (tset fake.missing "dnsmasq" true)
             (set fake.link-dump [{:kind :link :ifname "br-lan"}])
             (lan.start! (lan.new "/c" ["pppoe"]))
             (settle!)
             (t.is= :failed (published :state))
             (t.is (string.find (published :reason) "unable to start dnsmasq"))
             (setup)
             (fake.exit! (fake.last-spawn "dnsmasq") {:code 1})
             (t.is= :backoff (published :state))
             (t.is= 1 (published :restarts))
             (fake.advance! 1)
             (t.is= :running (published :state))
             (t.is= 2 (length (dnsmasqs)))))

(s:test "arguments"
        #(do (t.is= [nil "expected a config path and at least one upstream service"]
                    [(lan.parse-args ["/c"])])
             (t.is= ["/c" ["a" "b"] {:interface "lan0" :subnet 2 :ipv4 "192.168.1.1/24"}]
                    [(lan.parse-args ["/c" "a" "--interface" "lan0" "b" "--subnet" "2" "--ipv4" "192.168.1.1/24"])])
             (t.is= [nil "option --subnet needs a number, not x"] [(lan.parse-args ["/c" "a" "--subnet" "x"])])
             (t.is= [nil "option --ipv4 needs ADDRESS/LENGTH, not 1.2.3.4"]
                    [(lan.parse-args ["/c" "a" "--ipv4" "1.2.3.4"])])))

(s:done)
