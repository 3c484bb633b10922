(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local firewall (require :firewall))
(local s (t.suite "firewall"))

(local work "/fake/run/upd-firewall")

(fn pub [k] (. fake.published :firewall k))
(fn nft-runs [] (icollect [_ r (ipairs fake.spawns)] (when (= "nft" (. r.spec.argv 1)) r)))
(fn finish! [?code] (fake.exit! (fake.last-spawn) {:code (or ?code 0)}))
(fn rules [] (. fake.files (.. work "/rules.nft") :content))

(fn list [addresses]
  ;; a blocklist tree as blocklist publishes it: the list as text in chunks
  {:state :ok :addresses [(table.concat addresses "\n")]})

(fn setup [?opts]
  (fake.reset!)
  (firewall.start! (firewall.new "blocklist" ?opts)))

(s:test "applies the set with one nft transaction"
        #(do (setup)
             (t.is= :waiting (pub :state))
             (fake.emit-tree! "blocklist" {:state :ok :addresses ["192.0.2.1\n10.0.0.0/8" "2001:db8::/48"]})
             (t.is= ["nft" "-f" (.. work "/rules.nft")] (. (nft-runs) 1 :spec :argv))
             (let [text (rules)]
               (t.is (string.find text "elements = { 10.0.0.0/8,\n      192.0.2.1 }" 1 true) text)
               (t.is (string.find text "elements = { 2001:db8::/48 }" 1 true))
               (t.is (string.find text "delete table inet upd" 1 true)))
             (t.is= :applying (pub :state))
             (finish!)
             (t.is= :applied (pub :state))
             (t.is= 3 (pub :count))))

(s:test "loopback and established traffic pass before any drop"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (let [text (rules)
                   at #(string.find text $1 1 true)]
               (each [_ chain (ipairs ["input" "forward"])]
                 (let [from (at (.. "chain " chain " {"))
                       lo (string.find text "iif lo accept" from true)
                       ct (string.find text "ct state established,related accept" from true)
                       drop (string.find text "saddr @blocklist4 drop" from true)]
                   (t.is (and lo ct drop (< lo drop) (< ct drop)) chain))))))

(s:test "the work directory is beside the state root, made private each time"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (t.is= [work] fake.dirs)
             (t.is= 384 (. fake.files (.. work "/rules.nft") :mode))
             (finish!)
             (set fake.dir-error "owned by uid 1000")
             (fake.emit-tree! "blocklist" (list ["192.0.2.2"]))
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :reason) "refusing the work directory /fake/run/upd-firewall: owned by uid 1000" 1 true)
                   (pub :reason))
             (t.is= 1 (length (nft-runs)) "nothing run from a directory not ours")
             (t.is= 1 (length fake.writes))
             (set fake.dir-error nil)
             (fake.advance! 1)
             (t.is= 2 (length (nft-runs)) "retried")
             (setup {:work "/var/lib/fw"})
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (t.is= ["nft" "-f" "/var/lib/fw/rules.nft"] (. (fake.last-spawn) :spec :argv))))

(s:test "applies only when the set changed"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (finish!)
             (fake.emit-tree! "blocklist" {:state :stale :last-error "x" :addresses ["192.0.2.1"]})
             (t.is= 1 (length (nft-runs)) "state change only: nothing applied")
             (fake.emit-tree! "blocklist" nil)
             (t.is= 1 (length (nft-runs)) "blocklist gone: the applied set stays")
             (fake.emit-tree! "blocklist" (list ["192.0.2.2"]))
             (t.is= 2 (length (nft-runs)))))

(s:test "garbage is kept out of the ruleset"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1" "1.2.3.4; flush ruleset" "}"]))
             (t.is (not (string.find (rules) "flush ruleset" 1 true)))
             (t.is= 1 (pub :count))))

(s:test "checked again: overlaps merged, entries that cut the router off dropped"
        #(do (setup)
             (set fake.address-dump [{:ifname "br-lan" :family :inet :address "192.168.1.1" :length 24}])
             (fake.emit-tree! "blocklist" (list ["10.0.0.0/8" "10.9.9.9" "2001:db8::/32" "2001:db8:1::/48"
                                                 "0.0.0.0/0" "::/0" "127.0.0.1" "192.168.1.0/24"]))
             (let [text (rules)]
               (t.is (string.find text "elements = { 10.0.0.0/8 }" 1 true) text)
               (t.is (string.find text "elements = { 2001:db8::/32 }" 1 true) text))
             (t.is= 2 (pub :count))
             (t.is (fake.logged? "dropped 4 invalid or cutting%-off"))))

(s:test "a change during an apply is applied after it, latest set wins"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (fake.emit-tree! "blocklist" (list ["192.0.2.2"]))
             (fake.emit-tree! "blocklist" (list ["192.0.2.3"]))
             (t.is= 1 (length (nft-runs)))
             (finish!)
             (t.is= 2 (length (nft-runs)))
             (t.is (string.find (rules) "192.0.2.3" 1 true))
             (finish!)
             (t.is= 2 (length (nft-runs)))
             (t.is= 2 (pub :applies))))

(s:test "a failed apply is retried with backoff"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (finish! 1)
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :reason) "nft -f /fake/run/upd-firewall/rules.nft failed (code 1)" 1 true))
             (fake.advance! 1)
             (t.is= 2 (length (nft-runs)))
             (finish! 1)
             (fake.advance! 1.5)
             (t.is= 2 (length (nft-runs)) "second retry waits 2 s")
             (fake.advance! 0.5)
             (t.is= 3 (length (nft-runs)))
             (finish!)
             (t.is= :applied (pub :state))))

(s:test "changes while a retry waits go with it: one retry, never more"
        #(do (setup)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (finish! 1)
             (fake.emit-tree! "blocklist" (list ["192.0.2.2"]))
             (fake.emit-tree! "blocklist" (list ["192.0.2.3"]))
             (t.is= 1 (length (nft-runs)) "the backoff holds")
             (fake.advance! 1)
             (t.is= 2 (length (nft-runs)))
             (t.is (string.find (rules) "192.0.2.3" 1 true) "the latest set")
             (finish! 1)
             (fake.emit-tree! "blocklist" (list ["192.0.2.4"]))
             (fake.advance! 2)
             (t.is= 3 (length (nft-runs)))
             (finish! 1)
             (fake.advance! 4)
             (t.is= 4 (length (nft-runs)) "one retry chain, not one per change")
             (finish!)
             (t.is= :applied (pub :state))))

(s:test "iptables backend: restore files per family, loopback and established first"
        #(do (setup {:backend :iptables})
             (fake.emit-tree! "blocklist" (list ["192.0.2.1" "2001:db8::1"]))
             (t.is= ["iptables-restore" "--noflush" (.. work "/rules.v4")] (. (fake.last-spawn) :spec :argv))
             (t.is= (.. "*filter\n:upd-blocklist - [0:0]\n-F upd-blocklist\n"
                        "-A upd-blocklist -i lo -j RETURN\n"
                        "-A upd-blocklist -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n"
                        "-A upd-blocklist -s 192.0.2.1 -j DROP\nCOMMIT\n")
                    (. fake.files (.. work "/rules.v4") :content))
             (finish!)
             (t.is= ["ip6tables-restore" "--noflush" (.. work "/rules.v6")] (. (fake.last-spawn) :spec :argv))
             (finish!)
             (t.is= :applied (pub :state))))

(s:test "missing nft: failed with reason"
        #(do (setup)
             (tset fake.missing "nft" true)
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :reason) "unable to run nft" 1 true))))

(s:test "a publish error is logged"
        #(do (setup)
             (set fake.publish-error "No space left on device")
             (fake.emit-tree! "blocklist" (list ["192.0.2.1"]))
             (t.is (fake.logged? "unable to publish: publish firewall: No space left"))))

(s:test "arguments"
        #(t.is= [nil "option --backend needs nft or iptables, not pf"]
                [(firewall.parse-args ["blocklist" "--backend" "pf"])]))

(s:done)
