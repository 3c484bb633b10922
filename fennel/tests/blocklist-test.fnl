(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local blocklist (require :blocklist))
(local s (t.suite "blocklist"))

(fn pub [k] (. fake.published :blocklist k))

(fn listed []
  ;; the published list, one address a string
  (icollect [_ chunk (ipairs (or (pub :addresses) []))]
    (icollect [a (string.gmatch chunk "[^\n]+")] a)))

(fn flat []
  (let [out []]
    (each [_ chunk (ipairs (or (pub :addresses) []))]
      (each [a (string.gmatch chunk "[^\n]+")] (table.insert out a)))
    out))

(fn serve! [lines ?code]
  ;; the running wget prints `lines` and exits
  (let [w (fake.last-spawn "wget")]
    (each [_ l (ipairs lines)] (when w.running (fake.line! w :stdout l)))
    (fake.exit! w {:code (or ?code 0)})))

(fn killed-with [w]
  (accumulate [sig nil _ k (ipairs fake.kills)] (if (= k.pid w.pid) k.signal sig)))

(fn setup [?opts]
  (fake.reset!)
  (let [opts (or ?opts {})]
    (set opts.interval (or opts.interval 600))
    (blocklist.start! (blocklist.new "http://lists.invalid/bad.txt" opts))))

(fn norm [a] (case (blocklist.parse-address a) e (blocklist.entry->text e)))

(s:test "address validation and normal form"
        #(do (each [_ good (ipairs ["192.0.2.1" "10.0.0.0/8" "0.0.0.0/0" "2001:db8::1" "::/0"
                                    "2001:DB8::/32" "::ffff:192.0.2.1" "1:2:3:4:5:6:7:8" "::" "1::"])]
               (t.is (blocklist.parse-address good) good))
             (each [_ bad (ipairs ["256.1.1.1" "1.2.3" "01.2.3.4" "10.0.0.0/33" "2001:db8::/129"
                                   "1:2:3:4:5:6:7:8:9" "1::2::3" "example.com" "<html>" "1.2.3.4/"
                                   "::ffff:999.1.1.1" "" "1.2.3.4 5.6.7.8" ":1:2:3:4:5:6:7" "1:2:3:4:5:6:7:8::"
                                   (.. "1.2.3.4" (string.rep " " 80))])]
               (t.is (not (blocklist.parse-address bad)) (.. "rejects " bad)))
             (t.is= "2001:db8::/32" (norm "2001:DB8::/32"))
             (t.is= "192.0.2.1" (norm "192.0.2.1/32"))
             (t.is= "10.0.0.0/8" (norm "10.9.9.9/8") "host bits cleared")
             (t.is= "2001:db8::/32" (norm "2001:db8:ffff::1/32"))
             (t.is= "1:0:0:1::1" (norm "1:0:0:1:0:0:0:1") "the first longest zero run is ::")
             (t.is= "1:2:3:4:5:6:7:0" (norm "1:2:3:4:5:6:7::") "one zero group is not ::")
             (t.is= "::ffff:c000:201" (norm "::ffff:192.0.2.1"))
             (t.is= "::" (norm "0:0:0:0:0:0:0:0"))))

(s:test "fetches with wget at start, publishes the list"
        #(do (setup)
             (t.is= ["wget" "-q" "-T" "30" "-O" "-" "http://lists.invalid/bad.txt"]
                    (. (fake.last-spawn) :spec :argv))
             (t.is= :starting (pub :state))
             (serve! ["# list" "192.0.2.1" "" "2001:db8::/48  # comment" "  192.0.2.1\r" "\t"])
             (t.is= :ok (pub :state))
             (t.is= [["192.0.2.1" "2001:db8::/48"]] (listed))
             (t.is= 2 (pub :count))
             (t.is= 0 (pub :refused))))

(s:test "a list over the tree's 4096 entries is published, in chunks a tree holds"
        ;; tests/faults/run feeds does 65536 with the real binary
        #(do (setup)
             (serve! (fcollect [i 0 9999]
                       (string.format "10.%d.%d.%d" (math.floor (/ i 32768)) (% (math.floor (/ i 128)) 256) (* 2 (% i 128)))))
             (t.is= :ok (pub :state) (pub :last-error))
             (t.is= 10000 (pub :count))
             (t.is= 10000 (length (flat)))
             (t.is= 2 (length (pub :addresses)))
             (each [_ chunk (ipairs (pub :addresses))]
               (t.is (<= (length chunk) 64000)))
             (t.is= "10.0.0.0" (. (flat) 1))
             (t.is= "10.0.78.30" (. (flat) 10000))))

(s:test "over --max entries, lines or bytes: refused at once, the last good list kept"
        #(do (setup {:max 100})
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (let [w (fake.last-spawn "wget")]
               (serve! (fcollect [i 1 150] (.. "10.0.0." i)))
               (t.is= :KILL (killed-with w) "wget is stopped at entry 101")
               (t.is= :stale (pub :state))
               (t.is (string.find (pub :last-error) "more than 100 entries" 1 true) (pub :last-error))
               (t.is= [["192.0.2.1"]] (listed)))
             (fake.advance! 600)
             ;; one address and a flood of empty lines: bounded work, not the body's
             (let [w (fake.last-spawn "wget")]
               (fake.line! w :stdout "198.51.100.1")
               (var n 0)
               (while (and (< n 100000) (not (killed-with w)))
                 (fake.line! w :stdout "")
                 (set n (+ n 1)))
               (t.is= 1224 n "given up after 2 x max + 1024 lines")
               (fake.exit! w {:signal 9})
               (t.is (string.find (pub :last-error) "more than 1224 lines" 1 true) (pub :last-error)))
             (fake.advance! 600)
             (serve! (fcollect [i 1 100] (.. "# " (string.rep "x" 200))))
             (t.is (string.find (pub :last-error) "more than 6400 bytes" 1 true) (pub :last-error))
             (t.is= [["192.0.2.1"]] (listed))))

(s:test "a fetch has a deadline: wget is killed, last-error says so"
        #(do (setup {:deadline 30})
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (let [w (fake.last-spawn "wget")]
               (fake.line! w :stdout "198.51.100.1")
               (fake.advance! 29)
               (t.is= nil (killed-with w))
               (fake.advance! 1)
               (t.is= :KILL (killed-with w))
               (fake.exit! w {:signal 9}))
             (t.is= :stale (pub :state))
             (t.is (string.find (pub :last-error) "no whole list within 30 s" 1 true) (pub :last-error))
             (t.is= [["192.0.2.1"]] (listed))
             (fake.advance! 570)
             (serve! ["198.51.100.1"])
             (fake.advance! 120)
             (t.is= :ok (pub :state) "the deadline of a finished fetch is cancelled")))

(s:test "overlapping, duplicate and neighbour entries are merged"
        #(do (setup)
             (serve! ["10.0.0.0/8" "10.9.9.9" "2001:db8::/32" "2001:db8:1::/48" "192.0.2.0/25"
                      "192.0.2.128/25" "198.51.100.7" "198.51.100.7" "10.200.0.0/16"])
             (t.is= :ok (pub :state))
             (t.is= [["10.0.0.0/8" "192.0.2.0/24" "198.51.100.7" "2001:db8::/32"]] (listed))
             (t.is= 4 (pub :count))))

(s:test "entries that would cut the router off are refused, the rest taken"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (set fake.address-dump [{:ifname "br-lan" :family :inet :address "192.168.1.1" :length 24}
                                     {:ifname "wan" :family :inet6 :address "2001:db8:5::1" :length 64}])
             (fake.advance! 600)
             (serve! ["0.0.0.0/0" "::/0" "127.0.0.53" "0.0.0.0/8" "fe80::/64" "192.168.1.0/24"
                      "2001:db8::/32" "198.51.100.7" "::1" "10.0.0.0/8"])
             (t.is= :ok (pub :state) (pub :last-error))
             (t.is= [["10.0.0.0/8" "198.51.100.7"]] (listed))
             (t.is= 8 (pub :refused))
             (t.is= "line 1: 0.0.0.0/0 refused: it overlaps 127.0.0.0/8" (pub :warning))
             (fake.advance! 600)
             (serve! ["::/0"])
             (t.is= :stale (pub :state))
             (t.is (string.find (pub :last-error) "the list is empty (line 1: ::/0 refused" 1 true) (pub :last-error))))

(s:test "a list the tree cannot hold is refused visibly"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (let [v6 (fcollect [i 4096 34096]
                        (string.format "2001:db8:%x:%x:%x:%x:%x:1" i i i i i))]
               (serve! v6))
             (t.is= :stale (pub :state))
             (t.is (string.find (pub :last-error) "bytes, more than 1024000" 1 true) (pub :last-error))
             (t.is= [["192.0.2.1"]] (listed))))

(s:test "a publish error is never ignored: the list is not taken, the error shown"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (set fake.publish-error (fn [_ tree] (when (= tree.state :ok) "No space left on device")))
             (fake.advance! 600)
             (serve! ["198.51.100.7"])
             (t.is= :stale (pub :state))
             (t.is (string.find (pub :last-error) "unable to publish the list: publish blocklist: No space left" 1 true) (pub :last-error))
             (t.is= [["192.0.2.1"]] (listed))
             (t.is (fake.logged? "unable to publish"))
             (set fake.publish-error nil)
             (fake.advance! 600)
             (serve! ["198.51.100.7"])
             (t.is= :ok (pub :state))
             (t.is= [["198.51.100.7"]] (listed))))

(s:test "garbage keeps the last good list, naming the line"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (let [w (fake.last-spawn "wget")]
               (serve! ["<html>" "<body>502 Bad Gateway</body>"])
               (t.is= :KILL (killed-with w) "the first bad line ends the fetch"))
             (t.is= :stale (pub :state))
             (t.is= [["192.0.2.1"]] (listed))
             (t.is (string.find (pub :last-error) "line 1: not an IPv4 or IPv6 address: '<html>'" 1 true)
                   (pub :last-error))
             (fake.advance! 600)
             (serve! ["192.0.2.1" "300.1.1.1"])
             (t.is= [["192.0.2.1"]] (listed) "one bad line rejects the whole fetch")
             (t.is (string.find (pub :last-error) "line 2" 1 true))
             (fake.advance! 600)
             (serve! ["192.0.2.1" "1.2.3.4\027[2J"])
             (t.is (string.find (pub :last-error) "'1.2.3.4?[2J'" 1 true) "control characters shown as ?")))

(s:test "wget failure and an empty body keep the last good list"
        #(do (setup)
             (serve! ["192.0.2.1"])
             (fake.advance! 600)
             (serve! [] 4)
             (t.is= :stale (pub :state))
             (t.is (string.find (pub :last-error) "wget failed (code 4)" 1 true))
             (t.is= [["192.0.2.1"]] (listed))
             (fake.advance! 600)
             (serve! [])
             (t.is (string.find (pub :last-error) "empty" 1 true))
             (fake.advance! 600)
             (serve! ["198.51.100.7"])
             (t.is= :ok (pub :state))
             (t.is= nil (pub :last-error))
             (t.is= [["198.51.100.7"]] (listed))))

(s:test "failed before any good list; no overlapping fetches"
        #(do (setup {:deadline 5000})
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
        #(do (t.is= [nil "option --interval needs a positive number, not 0"]
                    [(blocklist.parse-args ["http://x" "--interval" "0"])])
             (t.is= ["http://x" {:interval 60 :deadline 30}]
                    [(blocklist.parse-args ["http://x" "--interval" "60" "--deadline" "30"])])))

(s:done)
