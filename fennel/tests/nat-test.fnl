(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local nat (require :nat))
(local s (t.suite "nat"))

(fn published [key] (. fake.published :nat key))

(s:test "one nft transaction replacing its own table: masquerade out of the WAN interfaces"
        #(do (fake.reset!)
             (nat.start! (nat.new ["ppp0" "l2tp0"] {:source "192.168.1.0/24"}))
             (t.is= "table ip upd_nat\ndelete table ip upd_nat\ntable ip upd_nat {\n  chain postrouting { type nat hook postrouting priority srcnat; policy accept;\n    oifname { \"ppp0\", \"l2tp0\" } ip saddr 192.168.1.0/24 masquerade\n  }\n}\n"
                    (. fake.files "/tmp/upd-nat.nft" :content))
             (t.is= ["nft" "-f" "/tmp/upd-nat.nft"] (. (fake.last-spawn) :spec :argv))
             (t.is= :applying (published :state))
             (fake.exit! (fake.last-spawn) {:code 0})
             (t.is= :applied (published :state))
             (t.is= 1 (published :applies))
             (t.is= ["ppp0" "l2tp0"] (published :interfaces))))

(s:test "a failed apply is the reason and is retried with backoff"
        #(do (fake.reset!)
             (nat.start! (nat.new ["ppp0"]))
             (fake.exit! (fake.last-spawn) {:code 1})
             (t.is= :failed (published :state))
             (t.is= "nft -f /tmp/upd-nat.nft failed (code 1)" (published :reason))
             (fake.advance! 0.9)
             (t.is= 1 (length fake.spawns))
             (fake.advance! 0.1)
             (t.is= 2 (length fake.spawns))
             (fake.exit! (fake.last-spawn) {:code 1})
             (fake.advance! 1.9)
             (t.is= 2 (length fake.spawns) "the delay doubled")
             (fake.advance! 0.1)
             (fake.exit! (fake.last-spawn) {:code 0})
             (t.is= :applied (published :state))
             (t.is= nil (published :reason))
             (tset fake.missing "nft" true)
             (nat.start! (nat.new ["ppp0"]))
             (t.is= "unable to run nft: nft: No such file or directory" (published :reason))))

(s:test "arguments"
        #(do (t.is= [nil "expected at least one WAN interface"] [(nat.parse-args [])])
             (t.is= [nil "option --source needs an IPv4 ADDRESS/LENGTH, not lan"] [(nat.parse-args ["ppp0" "--source" "lan"])])
             (t.is= [nil "not an interface name: ppp0\"; drop"] [(nat.parse-args ["ppp0\"; drop"])])
             (t.is= [["ppp0"] {:source "10.0.0.0/8"}] [(nat.parse-args ["ppp0" "--source" "10.0.0.0/8"])])
             ;; The Liminix module's defaults come first (nix/liminix/service.nix).
             (t.is= [["ppp0"] {:nft "/b" :work "/w"}] [(nat.parse-args ["--nft" "/a" "ppp0" "--nft" "/b" "--work" "/w"])])))

(s:done)
