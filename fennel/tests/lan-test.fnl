(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local lan (require :lan))
(local s (t.suite "lan"))

(fn hups [] (icollect [_ k (ipairs fake.kills)] (when (= k.signal :HUP) k)))
(fn content [path] (?. fake.files path :content))

(fn setup []
  (fake.reset!)
  (let [l (lan.start! (lan.new "/etc/dnsmasq.d/upd.conf" ["odhcp6c-wan" "pppoe"]
                               {:interface "br0"}))]
    (fake.advance! 0)
    l))

(s:test "first render writes both files and starts dnsmasq with them"
        #(do (setup)
             (t.is= ["dnsmasq" "--keep-in-foreground" "--conf-file=/etc/dnsmasq.d/upd.conf"
                     "--servers-file=/etc/dnsmasq.d/upd.conf.servers"]
                    (. (fake.last-spawn) :spec :argv))
             (t.is (not (string.find (content "/etc/dnsmasq.d/upd.conf") "dhcp%-range")))
             (t.is= :running (. fake.published :lan :state))))

(s:test "upstream DNS -> server= lines and one SIGHUP; RA prefix -> dhcp-range"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1" "198.51.100.2"]})
             (fake.emit-tree! "odhcp6c-wan" {:state :bound :rdnss ["2001:db8::53"]})
             (fake.advance! 0)
             (t.is= "# written by upd lan from odhcp6c-wan, pppoe; do not edit\nserver=2001:db8::53\nserver=198.51.100.1\nserver=198.51.100.2\n"
                    (content "/etc/dnsmasq.d/upd.conf.servers"))
             (t.is= 1 (length (hups)) "one reload for a burst of two changes")
             (fake.emit-tree! "odhcp6c-wan" {:state :bound :rdnss ["2001:db8::53"]
                                             :ra_prefixes [{:prefix "2001:db8:0:1::" :length 64}]})
             (fake.advance! 0)
             (t.is (string.find (content "/etc/dnsmasq.d/upd.conf")
                                "dhcp-range=::,constructor:br0,ra-only,64" 1 true))
             (t.is= 1 (length (hups)) "the main config changed: restart, not HUP")
             (t.is= 2 (length fake.spawns))
             (t.is= 1 (fake.running-count "dnsmasq"))))

(s:test "no reload for unrelated changes"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1"]})
             (fake.advance! 0)
             (let [writes (length fake.writes)]
               (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1"] :since 99 :pid 7})
               (fake.emit-tree! "odhcp6c-wan" {:state :informed})
               (fake.advance! 0)
               (t.is= writes (length fake.writes) "nothing rewritten")
               (t.is= 1 (length (hups))))))

(s:test "an upstream going away removes its servers"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1"]})
             (fake.advance! 0)
             (fake.emit-tree! "pppoe" nil)
             (fake.advance! 0)
             (t.is (not (string.find (content "/etc/dnsmasq.d/upd.conf.servers") "server=")))
             (t.is= 2 (length (hups)))))

(s:test "garbage in an upstream list is not written into the config"
        #(do (setup)
             (fake.emit-tree! "pppoe" {:state :up :dns ["198.51.100.1\nconf-file=/tmp/evil"]})
             (fake.advance! 0)
             (t.is (not (string.find (content "/etc/dnsmasq.d/upd.conf.servers") "evil")))))

(s:test "dnsmasq missing: failed with reason; dies: backoff then restart"
        #(do (fake.reset!)
             (tset fake.missing "dnsmasq" true)
             (lan.start! (lan.new "/c" ["pppoe"]))
             (fake.advance! 0)
             (t.is= :failed (. fake.published :lan :state))
             (t.is (string.find (. fake.published :lan :reason) "unable to start dnsmasq"))
             (setup)
             (fake.exit! (fake.last-spawn) {:code 1})
             (t.is= :backoff (. fake.published :lan :state))
             (fake.advance! 1)
             (t.is= :running (. fake.published :lan :state))
             (t.is= 2 (length fake.spawns))))

(s:test "arguments"
        #(do (t.is= [nil "expected a config path and at least one upstream service"]
                    [(lan.parse-args ["/c"])])
             (t.is= ["/c" ["a" "b"] {:extra [] :interface "lan0"}]
                    [(lan.parse-args ["/c" "a" "--interface" "lan0" "b"])])))

(s:done)
