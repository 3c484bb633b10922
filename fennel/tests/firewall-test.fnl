(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local firewall (require :firewall))
(local s (t.suite "firewall"))

(fn pub [k] (. fake.published :firewall k))
(fn nft-runs [] (icollect [_ r (ipairs fake.spawns)] (when (= "nft" (. r.spec.argv 1)) r)))
(fn finish! [?code] (fake.exit! (fake.last-spawn) {:code (or ?code 0)}))

(fn setup [?opts]
  (fake.reset!)
  (firewall.start! (firewall.new "blocklist" ?opts)))

(s:test "applies the set with one nft transaction"
        #(do (setup)
             (t.is= :waiting (pub :state))
             (fake.emit-tree! "blocklist" {:state :ok :addresses ["192.0.2.1" "2001:db8::/48" "10.0.0.0/8"]})
             (t.is= ["nft" "-f" "/tmp/upd-firewall.nft"] (. (nft-runs) 1 :spec :argv))
             (let [text (. fake.files "/tmp/upd-firewall.nft" :content)]
               (t.is (string.find text "elements = { 192.0.2.1, 10.0.0.0/8 }" 1 true) text)
               (t.is (string.find text "elements = { 2001:db8::/48 }" 1 true))
               (t.is (string.find text "delete table inet upd" 1 true)))
             (t.is= :applying (pub :state))
             (finish!)
             (t.is= :applied (pub :state))
             (t.is= 3 (pub :count))))

(s:test "applies only when the set changed"
        #(do (setup)
             (fake.emit-tree! "blocklist" {:state :ok :addresses ["192.0.2.1"]})
             (finish!)
             (fake.emit-tree! "blocklist" {:state :stale :last-error "x" :addresses ["192.0.2.1"]})
             (t.is= 1 (length (nft-runs)) "state change only: nothing applied")
             (fake.emit-tree! "blocklist" nil)
             (t.is= 1 (length (nft-runs)) "blocklist gone: the applied set stays")
             (fake.emit-tree! "blocklist" {:state :ok :addresses ["192.0.2.2"]})
             (t.is= 2 (length (nft-runs)))))

(s:test "garbage is kept out of the ruleset"
        #(do (setup)
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.1" "1.2.3.4; flush ruleset" "}"]})
             (let [text (. fake.files "/tmp/upd-firewall.nft" :content)]
               (t.is (not (string.find text "flush ruleset" 1 true)))
               (t.is= 1 (pub :count)))))

(s:test "a change during an apply is applied after it, latest set wins"
        #(do (setup)
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.1"]})
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.2"]})
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.3"]})
             (t.is= 1 (length (nft-runs)))
             (finish!)
             (t.is= 2 (length (nft-runs)))
             (t.is (string.find (. fake.files "/tmp/upd-firewall.nft" :content) "192.0.2.3" 1 true))
             (finish!)
             (t.is= 2 (length (nft-runs)))
             (t.is= 2 (pub :applies))))

(s:test "a failed apply is retried with backoff"
        #(do (setup)
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.1"]})
             (finish! 1)
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :reason) "nft -f /tmp/upd-firewall.nft failed (code 1)" 1 true))
             (fake.advance! 1)
             (t.is= 2 (length (nft-runs)))
             (finish! 1)
             (fake.advance! 1.5)
             (t.is= 2 (length (nft-runs)) "second retry waits 2 s")
             (fake.advance! 0.5)
             (t.is= 3 (length (nft-runs)))
             (finish!)
             (t.is= :applied (pub :state))))

(s:test "iptables backend: restore files per family"
        #(do (setup {:backend :iptables})
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.1" "2001:db8::1"]})
             (t.is= ["iptables-restore" "--noflush" "/tmp/upd-firewall.v4"] (. (fake.last-spawn) :spec :argv))
             (t.is= "*filter\n:upd-blocklist - [0:0]\n-F upd-blocklist\n-A upd-blocklist -s 192.0.2.1 -j DROP\nCOMMIT\n"
                    (. fake.files "/tmp/upd-firewall.v4" :content))
             (finish!)
             (t.is= ["ip6tables-restore" "--noflush" "/tmp/upd-firewall.v6"] (. (fake.last-spawn) :spec :argv))
             (finish!)
             (t.is= :applied (pub :state))))

(s:test "missing nft: failed with reason"
        #(do (setup)
             (tset fake.missing "nft" true)
             (fake.emit-tree! "blocklist" {:addresses ["192.0.2.1"]})
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :reason) "unable to run nft" 1 true))))

(s:test "arguments"
        #(t.is= [nil "--backend must be nft or iptables, not pf"]
                [(firewall.parse-args ["blocklist" "--backend" "pf"])]))

(s:done)
