(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local odhcp6c (require :odhcp6c))
(local s (t.suite "odhcp6c"))

;; Environments as odhcp6c's script.c writes them. Since October 2024
;; (odhcp6c 047c63a) every address and prefix entry has ,t1,t2 after
;; preferred,valid; class= when the IAID is not 1 (%08x); excluded= for an
;; RFC 6603 exclusion. Older builds omit t1,t2.
(local new-format
       {:ADDRESSES "2001:db8:0:1::abcd/128,3600,7200,1800,2880"
        :PREFIXES "2001:db8:100::/56,3600,7200,1800,2880 2001:db8:200::/60,1800,3600,900,1440,class=0000000a,excluded=2001:db8:200::/64"
        :RA_ADDRESSES "2001:db8:0:1:5054:ff:fe12:3456/64,14400,86400,0,0"
        :RA_ROUTES "2001:db8:0:1::/64,,86400,256 ::/0,fe80::1,1800,1024"
        :RDNSS "2001:db8::53 2001:db8::54"
        :RA_DNS "2001:db8::53"
        :DOMAINS "example.net"
        :RA_DOMAINS "lan.example.net"
        :SERVER "fe80::2"
        :SNTP_IP "2001:db8::123"
        :NTP_IP "2001:db8::124"
        :NTP_FQDN "ntp.example.net"
        :SIP_IP "2001:db8::5060"
        :SIP_DOMAIN "sip.example.net"
        :AFTR "aftr.example.net"
        :MAPE "fmr,type=map-e,ealen=16,prefix4len=24,prefix6len=48,ipv4prefix=192.0.2.0,ipv6prefix=2001:db8::,offset=6,psidlen=8,psid=0,br=2001:db8::1, "
        :LW4O6 "type=lw4o6,prefix4len=32,prefix6len=128,ipv4prefix=192.0.2.7,ipv6prefix=2001:db8::7,offset=6,psidlen=8,psid=3,br=2001:db8::1,"
        :PASSTHRU "0017001020010db8000000000000000000000053"
        :OPTION_99 "deadbeef"
        :RA_MTU "1492" :RA_HOPLIMIT "64" :RA_REACHABLE "0" :RA_RETRANSMIT "0"})

(local old-format
       {:ADDRESSES "2001:db8:0:1::abcd/128,3600,7200"
        :PREFIXES "2001:db8:100::/56,3600,7200 2001:db8:200::/60,1800,3600,class=0000000a,excluded=2001:db8:200::/64"
        :RA_ADDRESSES "2001:db8:0:1:5054:ff:fe12:3456/64,14400,86400"
        :RA_ROUTES "::/0,fe80::1,1800,1024"
        :RDNSS "2001:db8::53" :CER "2001:db8::99"})

(fn tree-of [state env ?previous]
  (let [(tree errors) (odhcp6c.env->tree state env ?previous)]
    (values tree errors)))

(s:test "the seed's case: AAISP's PREFIXES is published at the seed's ra_prefixes path"
        ;; the seed's README: ra_prefixes/1/{prefix,length,valid,preferred} and
        ;; rdnss/1, rdnss/2; its author's capture of that line:
        ;; PREFIXES=2001:8b0:de3a:abcd::/64,7200,7200 (RA_ADDRESSES empty)
        #(let [tree (tree-of :bound {:PREFIXES "2001:8b0:de3a:40dc::/64,7200,7200"
                                     :RDNSS "2001:8b0::2020 2001:8b0::2021"
                                     :RA_ADDRESSES ""})]
           (t.is= [{:prefix "2001:8b0:de3a:40dc::" :length 64 :valid 7200 :preferred 7200}]
                  tree.ra_prefixes)
           (t.is= [{:prefix "2001:8b0:de3a:40dc::" :length 64 :preferred 7200 :valid 7200}]
                  tree.prefixes)
           (t.is= ["2001:8b0::2020" "2001:8b0::2021"] tree.rdnss)
           (t.is= [] tree.ra_addresses)
           ;; and as published files, the seed's paths
           (fake.reset!)
           (fake.publish "odhcp6c-aaisp" tree)
           (t.is= "2001:8b0:de3a:40dc::" (fake.read "odhcp6c-aaisp" "ra_prefixes/1/prefix"))
           (t.is= "64" (fake.read "odhcp6c-aaisp" "ra_prefixes/1/length"))
           (t.is= "7200" (fake.read "odhcp6c-aaisp" "ra_prefixes/1/valid"))
           (t.is= "7200" (fake.read "odhcp6c-aaisp" "ra_prefixes/1/preferred"))
           (t.is= "2001:8b0::2021" (fake.read "odhcp6c-aaisp" "rdnss/2"))))

(s:test "bound, new format (t1,t2, class=, excluded=): every variable field by field"
        #(let [(tree errors) (tree-of :bound new-format)]
           (t.is= [] errors)
           (t.is= :bound tree.state)
           (t.is= [{:address "2001:db8:0:1::abcd" :length 128 :preferred 3600 :valid 7200
                    :t1 1800 :t2 2880}] tree.addresses)
           (t.is= [{:prefix "2001:db8:100::" :length 56 :preferred 3600 :valid 7200 :t1 1800 :t2 2880}
                   {:prefix "2001:db8:200::" :length 60 :preferred 1800 :valid 3600 :t1 900 :t2 1440
                    :class "0000000a" :excluded "2001:db8:200::/64"}]
                  tree.prefixes)
           (t.is= [{:prefix "2001:db8:100::" :length 56 :preferred 3600 :valid 7200}
                   {:prefix "2001:db8:200::" :length 60 :preferred 1800 :valid 3600
                    :excluded "2001:db8:200::/64"}]
                  tree.ra_prefixes)
           (t.is= [{:address "2001:db8:0:1:5054:ff:fe12:3456" :length 64 :preferred 14400
                    :valid 86400 :t1 0 :t2 0}] tree.ra_addresses)
           (t.is= [{:destination "2001:db8:0:1::" :length 64 :valid 86400 :metric 256}
                   {:destination "::" :length 0 :gateway "fe80::1" :valid 1800 :metric 1024}]
                  tree.routes)
           (t.is= ["2001:db8::53" "2001:db8::54"] tree.rdnss)
           (t.is= ["example.net" "lan.example.net"] tree.domains)
           (t.is= ["fe80::2"] tree.server)
           (t.is= ["2001:db8::123"] tree.sntp)
           (t.is= ["2001:db8::124"] tree.ntp)
           (t.is= ["ntp.example.net"] tree.ntp_fqdn)
           (t.is= ["2001:db8::5060"] tree.sip)
           (t.is= ["sip.example.net"] tree.sip_domain)
           (t.is= ["aftr.example.net"] tree.aftr)
           (t.is= [{:fmr true :type "map-e" :ealen "16" :prefix4len "24" :prefix6len "48"
                    :ipv4prefix "192.0.2.0" :ipv6prefix "2001:db8::" :offset "6" :psidlen "8"
                    :psid "0" :br "2001:db8::1"}] tree.mape)
           (t.is= "lw4o6" (. tree.lw4o6 1 :type))
           (t.is= [] tree.mapt)
           (t.is= "0017001020010db8000000000000000000000053" tree.passthru)
           (t.is= {"99" "deadbeef"} tree.options)
           (t.is= {:mtu "1492" :hoplimit "64" :reachable "0" :retransmit "0"} tree.ra)
           (t.is= nil tree.last-error)))

(s:test "old format (no t1,t2) and CER are read too"
        #(let [(tree errors) (tree-of :updated old-format)]
           (t.is= [] errors)
           (t.is= [{:address "2001:db8:0:1::abcd" :length 128 :preferred 3600 :valid 7200}] tree.addresses)
           (t.is= {:prefix "2001:db8:200::" :length 60 :preferred 1800 :valid 3600
                   :class "0000000a" :excluded "2001:db8:200::/64"} (. tree.prefixes 2))
           (t.is= ["2001:db8::99"] tree.cer)))

(s:test "bound / informed / updated / rebound / ra-updated are parsed alike"
        #(each [_ st (ipairs [:bound :informed :updated :rebound :ra-updated])]
           (let [tree (tree-of st new-format)]
             (t.is= st tree.state)
             (t.is= 2 (length tree.prefixes) st))))

(s:test "started / unbound / stopped publish only the state (odhcp6c's teardown)"
        #(each [_ st (ipairs [:started :unbound :stopped])]
           (t.is= {:state st} (tree-of st new-format))))

(s:test "a withdrawn prefix (valid 0, RFC 7084 L-13) is in prefixes, not in ra_prefixes"
        #(let [tree (tree-of :updated {:PREFIXES "2001:db8:300::/56,3600,7200,1800,2880 2001:db8:100::/56,0,0,0,0"})]
           (t.is= ["2001:db8:300::" "2001:db8:100::"] (icollect [_ p (ipairs tree.prefixes)] p.prefix))
           (t.is= 0 (. tree.prefixes 2 :valid))
           (t.is= ["2001:db8:300::"] (icollect [_ p (ipairs tree.ra_prefixes)] p.prefix))))

(s:test "empty environment: empty lists, no error"
        #(let [(tree errors) (tree-of :informed {})]
           (t.is= [] errors)
           (t.is= [] tree.prefixes)
           (t.is= [] tree.ra_prefixes)
           (t.is= [] tree.rdnss)
           (t.is= {} tree.ra "absent RA_* are not published")
           (t.is= nil tree.passthru)
           (t.is= nil tree.captive_portal)))

(s:test "a malformed PREFIXES entry keeps the last good prefixes; the error is in the tree"
        #(let [good (tree-of :bound {:PREFIXES "2001:db8:100::/56,3600,7200" :RDNSS "2001:db8::53"})
               ;; read back as upd.read would: strings
               previous (do (fake.reset!) (fake.publish "x.dhcp" good) (fake.read "x.dhcp"))
               (tree errors) (tree-of :updated {:PREFIXES "2001:db8:100::/56,36oo,7200"
                                                :RDNSS "2001:db8::54"} previous)]
           (t.is= 1 (length errors))
           (t.is= "PREFIXES entry '2001:db8:100::/56,36oo,7200': lifetimes must be unsigned integers"
                  tree.last-error)
           (t.is= 1 tree.rejected)
           (fake.publish "x.dhcp" tree)
           (t.is= "2001:db8:100::" (fake.read "x.dhcp" "ra_prefixes/1/prefix") "last good ra_prefixes kept")
           (t.is= "7200" (fake.read "x.dhcp" "prefixes/1/valid"))
           (t.is= ["2001:db8::54"] tree.rdnss "the readable variables are updated")))

(s:test "every kind of bad entry is rejected with the variable named"
        #(each [name value (pairs {:PREFIXES "zzzz/56,1,2"
                                   :ADDRESSES "2001:db8::1/129,1,2"
                                   :RA_ADDRESSES "2001:db8::1/64,1,2,3"
                                   :RA_ROUTES "::/0,nothex,1,2"
                                   :RDNSS "2001:db8::53 not-an-address"
                                   :DOMAINS "bad;domain"
                                   :MAPE "type=map-e,evil=1,"
                                   :RA_MTU "15x"
                                   :OPTION_12 "xyz"})]
           (let [(tree errors) (tree-of :updated {name value})]
             (t.is= 1 (length errors) name)
             (t.is (: tree.last-error :find name 1 true) tree.last-error))))

(s:test "t1 without t2, an unknown field and a bad class are errors"
        #(do (t.is= [nil "t1 without t2"] [(odhcp6c.parse-prefix "2001:db8::/56,1,2,3")])
             (t.is= [nil "unexpected field weird=3"] [(odhcp6c.parse-prefix "2001:db8::/56,1,2,weird=3")])
             (t.is= [nil "bad class"] [(odhcp6c.parse-prefix "2001:db8::/56,1,2,class=zz")])
             (t.is= [nil "unexpected field 3"] [(odhcp6c.parse-address "2001:db8::/64,1,2,3,4,3")])
             (t.is= 4294967295 (. (odhcp6c.parse-address "2001:db8::1/128,4294967295,4294967295") :valid))
             (t.is= [nil "lifetimes must be unsigned integers"]
                    [(odhcp6c.parse-address "2001:db8::1/128,4294967296,1")])))

(s:test "a v4-mapped address as inet_ntop writes it is an address"
        #(t.is= ["::ffff:192.0.2.1"] (. (tree-of :bound {:RDNSS "::ffff:192.0.2.1"}) :rdnss)))

;; supervisor mode

(fn link [up? ?removed]
  {:kind :link :ifname "wan" :up up? :running up? :carrier up? :removed ?removed})

(fn setup [?opts]
  ;; the script must exist: /dev/null stands in for the packaging's wrapper
  (fake.reset!)
  (set fake.link-dump [(link true)])
  (let [opts (or ?opts {:name "v6"})]
    (when (= nil opts.script) (set opts.script "/dev/null"))
    (odhcp6c.start! (odhcp6c.new "wan" opts))))

(s:test "withdrawal: an update without a prefix removes its keys"
        #(let [e (collect [k v (pairs new-format)] k v)]
           (setup {:name "odhcp6c-wan"})
           (fake.emit-tree! "odhcp6c-wan.dhcp" (tree-of :bound e))
           (t.is= "2001:db8:200::" (fake.read "odhcp6c-wan" "prefixes/2/prefix"))
           (set e.PREFIXES "2001:db8:100::/56,3600,7200,1800,2880")
           (fake.emit-tree! "odhcp6c-wan.dhcp" (tree-of :updated e))
           (t.is= :updated (fake.read "odhcp6c-wan" "state"))
           (t.is= nil (fake.read "odhcp6c-wan" "prefixes/2"))
           (t.is= "2001:db8:100::" (fake.read "odhcp6c-wan" "ra_prefixes/1/prefix"))))

(s:test "supervisor: argv, env naming the script's service, merged tree"
        #(do (setup {:name "v6" :extra ["-P" "56"]})
             (let [sp (fake.last-spawn)]
               (t.is= ["odhcp6c" "-s" "/dev/null" "-P" "56" "wan"] sp.spec.argv)
               (t.is= {:UPD_ODHCP6C_SERVICE "v6.dhcp"} sp.spec.env))
             (t.is= :starting (. fake.published :v6 :state))
             (fake.emit-tree! "v6.dhcp" {:state :bound :rdnss ["2001:db8::53"]})
             (t.is= :bound (. fake.published :v6 :state))
             (t.is= "2001:db8::53" (fake.read :v6 "rdnss/1"))
             (t.is= "wan" (. fake.published :v6 :interface))))

(s:test "supervisor: odhcp6c runs only while the interface is up; a new link is a new odhcp6c"
        #(do (fake.reset!)
             (set fake.link-dump [])
             (odhcp6c.start! (odhcp6c.new "wan" {:name "v6" :script "/dev/null"}))
             (t.is= :waiting-for-interface (. fake.published :v6 :state))
             (t.is= 0 (length fake.spawns))
             (fake.netlink! (link true))
             (t.is= 1 (length fake.spawns))
             (fake.emit-tree! "v6.dhcp" {:state :bound :ra_prefixes [{:prefix "2001:db8:1::" :length 56}]})
             ;; pppd dies: ppp0 goes away; odhcp6c is stopped (it runs unbound, stopped)
             (fake.netlink! (link false true))
             (t.is (fake.killed? (. (fake.last-spawn) :pid)))
             (fake.flush!)
             (t.is= :waiting-for-interface (. fake.published :v6 :state))
             (t.is= nil (. fake.published :v6 :ra_prefixes) "no lease without odhcp6c")
             (fake.advance! 5)
             (t.is= 1 (length fake.spawns) "no restart without the interface")
             (fake.netlink! (link true))
             (t.is= 2 (length fake.spawns) "started at once, no backoff")
             (t.is= :starting (. fake.published :v6 :state))))

(s:test "supervisor: exit -> backoff 1, 2; data of the dead instance dropped"
        #(do (setup)
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
             (set fake.link-dump [(link true)])
             (odhcp6c.start! (odhcp6c.new "wan" {:name "v6" :script "/dev/null"}))
             (t.is= :failed (. fake.published :v6 :state))
             (t.is (string.find (. fake.published :v6 :reason) "unable to start odhcp6c"))
             (fake.advance! 300)
             (t.is= 0 (length fake.spawns))))

(s:test "supervisor: a missing script is a failure naming it, not `starting` forever"
        #(do (setup {:name "v6" :script "/nonexistent/odhcp6c-script"})
             (t.is= "/usr/libexec/upd/odhcp6c-script" (. (odhcp6c.new "wan") :script) "the default")
             (t.is= :failed (. fake.published :v6 :state))
             (t.is (string.find (. fake.published :v6 :reason) "/nonexistent/odhcp6c-script is missing" 1 true))
             (t.is= 0 (length fake.spawns))))

(s:test "supervisor: a script that never calls back gives a reason while starting"
        #(do (setup {:name "v6" :script "/dev/null"})
             (t.is= :starting (. fake.published :v6 :state))
             (t.is= nil (. fake.published :v6 :reason))
             (fake.advance! 10)
             (t.is= :starting (. fake.published :v6 :state))
             (t.is (string.find (. fake.published :v6 :reason) "no call from odhcp6c's script /dev/null" 1 true))
             (fake.emit-tree! "v6.dhcp" {:state :started})
             (t.is= nil (. fake.published :v6 :reason))))

(s:done)
