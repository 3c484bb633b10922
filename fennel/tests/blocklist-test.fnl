(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local blocklist (require :blocklist))
(local s (t.suite "blocklist"))

(fn pub [k] (. fake.published :blocklist k))

(fn serve! [lines ?code]
  ;; the running wget prints `lines` and exits
  (let [w (fake.last-spawn "wget")]
    (each [_ l (ipairs lines)] (fake.line! w :stdout l))
    (fake.exit! w {:code (or ?code 0)})))

(fn setup []
  (fake.reset!)
  (blocklist.start! (blocklist.new "http://lists.invalid/bad.txt" {:interval 600})))

(s:test "address validation"
        #(do (each [_ good (ipairs ["192.0.2.1" "10.0.0.0/8" "0.0.0.0/0" "2001:db8::1" "::/0"
                                    "2001:DB8::/32" "::ffff:192.0.2.1" "1:2:3:4:5:6:7:8"])]
               (t.is (blocklist.parse-address good) good))
             (each [_ bad (ipairs ["256.1.1.1" "1.2.3" "01.2.3.4" "10.0.0.0/33" "2001:db8::/129"
                                   "1:2:3:4:5:6:7:8:9" "1::2::3" "example.com" "<html>" "1.2.3.4/"
                                   "::ffff:999.1.1.1" "" "1.2.3.4 5.6.7.8"])]
               (t.is (not (blocklist.parse-address bad)) (.. "rejects " bad)))
             (t.is= "2001:db8::/32" (blocklist.parse-address "2001:DB8::/32"))
             (t.is= "192.0.2.1" (blocklist.parse-address "192.0.2.1/32"))))

(s:test "fetches with wget at start, publishes the addresses"
        #(do (setup)
             (t.is= ["wget" "-q" "-T" "30" "-O" "-" "http://lists.invalid/bad.txt"]
                    (. (fake.last-spawn) :spec :argv))
             (t.is= :starting (pub :state))
             (serve! ["# list" "192.0.2.1" "" "2001:db8::/48  # comment" "192.0.2.1"])
             (t.is= :ok (pub :state))
             (t.is= ["192.0.2.1" "2001:db8::/48"] (pub :addresses))
             (t.is= 2 (pub :count))))

(s:test "garbage keeps the last good list, naming the line"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (serve! ["<html>" "<body>502 Bad Gateway</body>"])
             (t.is= :stale (pub :state))
             (t.is= ["192.0.2.1"] (pub :addresses))
             (t.is (string.find (pub :last-error) "line 1: not an IPv4 or IPv6 address: '<html>'" 1 true)
                   (pub :last-error))
             (fake.advance! 600)
             (serve! ["192.0.2.1" "300.1.1.1"])
             (t.is= ["192.0.2.1"] (pub :addresses) "one bad line rejects the whole fetch")
             (t.is (string.find (pub :last-error) "line 2" 1 true))))

(s:test "wget failure and an empty body keep the last good list"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (serve! [] 4)
             (t.is= :stale (pub :state))
             (t.is (string.find (pub :last-error) "wget failed (code 4)" 1 true))
             (t.is= ["192.0.2.1"] (pub :addresses))
             (fake.advance! 600)
             (serve! [])
             (t.is (string.find (pub :last-error) "empty" 1 true))
             (fake.advance! 600)
             (serve! ["198.51.100.7"])
             (t.is= :ok (pub :state))
             (t.is= nil (pub :last-error))
             (t.is= ["198.51.100.7"] (pub :addresses))))

(s:test "failed before any good list; no overlapping fetches"
        #(do (setup)
             (fake.advance! 1200) ; the first wget still runs
             (t.is= 1 (length fake.spawns))
             (serve! [] 1)
             (t.is= :failed (pub :state))
             (t.is= 0 (pub :count))))

(s:test "missing wget: failed with the reason"
        #(do (fake.reset!)
             (tset fake.missing "wget" true)
             (blocklist.start! (blocklist.new "http://x.invalid/"))
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :last-error) "unable to run wget" 1 true))))

(s:test "arguments"
        #(do (t.is= [nil "--interval needs a positive number, not 0"]
                    [(blocklist.parse-args ["http://x" "--interval" "0"])])
             (t.is= ["http://x" {:interval 60}] [(blocklist.parse-args ["http://x" "--interval" "60"])])))

(s:done)
