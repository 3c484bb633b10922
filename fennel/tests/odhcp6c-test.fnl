(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local odhcp6c (require :odhcp6c))
(local s (t.suite "odhcp6c"))

;; environments as odhcp6c passes them to its state script (older and newer
;; entry formats)
(local bound-env
       {:ADDRESSES "2001:db8:0:1::abcd/128,3600,7200"
        :PREFIXES "2001:db8:100::/56,3600,7200 2001:db8:200::/60,1800,3600,900,1440,class=0A,excluded=2001:db8:200::/64"
        :RA_ADDRESSES "2001:db8:0:1:5054:ff:fe12:3456/64,14400,86400"
        :RA_ROUTES "2001:db8:0:1::/64,,86400,256 ::/0,fe80::1,1800,1024"
        :RDNSS "2001:db8::53 2001:db8::54"
        :RA_DNS "2001:db8::53"
        :DOMAINS "example.net"
        :RA_DOMAINS "lan.example.net"
        :SERVER "fe80::2"})

(fn env [t] #(. t $1))
(fn silent [] nil)

(s:test "bound: every list parsed into its keys"
        #(let [tree (odhcp6c.env->tree :bound (env bound-env) silent)]
           (t.is= :bound tree.state)
           (t.is= [{:address "2001:db8:0:1::abcd" :length 128 :preferred 3600 :valid 7200}] tree.addresses)
           (t.is= [{:prefix "2001:db8:100::" :length 56 :preferred 3600 :valid 7200}
                   {:prefix "2001:db8:200::" :length 60 :preferred 1800 :valid 3600
                    :class "0A" :excluded "2001:db8:200::/64"}]
                  tree.prefixes)
           (t.is= [{:prefix "2001:db8:0:1::" :length 64 :preferred 14400 :valid 86400}] tree.ra_prefixes)
           (t.is= [{:destination "2001:db8:0:1::" :length 64 :valid 86400 :metric 256}
                   {:destination "::" :length 0 :gateway "fe80::1" :valid 1800 :metric 1024}]
                  tree.routes)
           (t.is= ["2001:db8::53" "2001:db8::54"] tree.rdnss)
           (t.is= ["example.net" "lan.example.net"] tree.domains)
           (t.is= ["fe80::2"] tree.server)))

(s:test "informed / updated / rebound / ra-updated are parsed like bound"
        #(each [_ st (ipairs [:informed :updated :rebound :ra-updated])]
           (let [tree (odhcp6c.env->tree st (env bound-env) silent)]
             (t.is= st tree.state)
             (t.is= 2 (length tree.prefixes) st))))

(s:test "started / unbound / stopped publish only the state (teardown)"
        #(each [_ st (ipairs [:started :unbound :stopped])]
           (t.is= {:state st} (odhcp6c.env->tree st (env bound-env) silent))))

(s:test "empty environment: empty lists, no error"
        #(let [tree (odhcp6c.env->tree :informed (env {}) silent)]
           (t.is= [] tree.prefixes)
           (t.is= [] tree.rdnss)))

(s:test "a bad entry is skipped and logged; the rest of the update stays"
        #(let [logs []
               e (env {:PREFIXES "2001:db8:100::/56,3600,7200 zzzz/56,1,2 2001:db8:300::/64,1 2001:db8:400::/64,1,2,weird=3"
                       :RA_ROUTES "::/0,nothex,1,2"
                       :RDNSS "2001:db8::53 not-an-address"})
               tree (odhcp6c.env->tree :updated e #(table.insert logs $1))]
           (t.is= ["2001:db8:100::"] (icollect [_ p (ipairs tree.prefixes)] p.prefix))
           (t.is= [] tree.routes)
           (t.is= ["2001:db8::53"] tree.rdnss)
           (t.is= 5 (length logs))
           (t.is (: (. logs 1) :find "skipping PREFIXES entry 'zzzz/56,1,2'" 1 true))))

(s:test "withdrawal: an update without a prefix removes its keys"
        #(let [e (collect [k v (pairs bound-env)] k v)]
           (fake.reset!)
           (let [d (odhcp6c.start! (odhcp6c.new "wan" {:name "odhcp6c-wan"}))]
             (fake.emit-tree! "odhcp6c-wan.dhcp" (odhcp6c.env->tree :bound (env e) silent))
             (t.is= "2001:db8:200::" (fake.read "odhcp6c-wan" "prefixes/2/prefix"))
             (set e.PREFIXES "2001:db8:100::/56,3600,7200")
             (fake.emit-tree! "odhcp6c-wan.dhcp" (odhcp6c.env->tree :updated (env e) silent))
             (t.is= :updated (fake.read "odhcp6c-wan" "state"))
             (t.is= nil (fake.read "odhcp6c-wan" "prefixes/2"))
             (t.is= "2001:db8:100::" (fake.read "odhcp6c-wan" "prefixes/1/prefix")))))

(s:test "supervisor: argv, env naming the script's service, merged tree"
        #(do (fake.reset!)
             (odhcp6c.start! (odhcp6c.new "wan" {:name "v6" :extra ["-P" "56"]}))
             (let [sp (fake.last-spawn)]
               (t.is= ["odhcp6c" "-s" "/usr/libexec/upd/odhcp6c-script" "-P" "56" "wan"] sp.spec.argv)
               (t.is= {:UPD_ODHCP6C_SERVICE "v6.dhcp"} sp.spec.env))
             (t.is= :starting (. fake.published :v6 :state))
             (fake.emit-tree! "v6.dhcp" {:state :bound :rdnss ["2001:db8::53"]})
             (t.is= :bound (. fake.published :v6 :state))
             (t.is= "2001:db8::53" (fake.read :v6 "rdnss/1"))
             (t.is= "wan" (. fake.published :v6 :interface))))

(s:test "supervisor: exit -> backoff 1, 2; data of the dead instance dropped"
        #(do (fake.reset!)
             (odhcp6c.start! (odhcp6c.new "wan" {:name "v6"}))
             (fake.emit-tree! "v6.dhcp" {:state :bound :rdnss ["2001:db8::53"]})
             (fake.exit! (fake.last-spawn) {:code 1})
             (t.is= :backoff (. fake.published :v6 :state))
             (t.is= 1 (. fake.published :v6 :backoff))
             (t.is= nil (. fake.published :v6 :rdnss))
             (fake.advance! 1)
             (t.is= 2 (length fake.spawns))
             (fake.exit! (fake.last-spawn) {:code 1})
             (t.is= 2 (. fake.published :v6 :backoff))))

(s:test "supervisor: missing odhcp6c -> failed with reason, no retries"
        #(do (fake.reset!)
             (tset fake.missing "odhcp6c" true)
             (odhcp6c.start! (odhcp6c.new "wan" {:name "v6"}))
             (t.is= :failed (. fake.published :v6 :state))
             (t.is (string.find (. fake.published :v6 :reason) "unable to start odhcp6c"))
             (fake.advance! 300)
             (t.is= 0 (length fake.spawns))))

(s:done)
