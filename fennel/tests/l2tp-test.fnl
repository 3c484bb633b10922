(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local l2tp (require :l2tp))
(local s (t.suite "l2tp"))

(fn pub [key] (. fake.published :l2tp-isp key))
(fn spawned [word]
  (icollect [_ r (ipairs fake.spawns)]
    (when (string.find (table.concat r.spec.argv " ") word 1 true) r)))
(fn xl2tpd [] (fake.last-spawn "xl2tpd"))

(fn answer-probe! [count ?code]
  ;; the last probe prints its reply (debug mode, stderr) and exits
  (let [probe (. (spawned "available") (length (spawned "available")))]
    (when count
      (fake.line! probe :stderr "xl2tpd-control: command response: ")
      (fake.line! probe :stderr (.. "00 AVAILABLE tunnels count=" count)))
    (fake.exit! probe {:code (or ?code 0)})))

(fn setup []
  (fake.reset!)
  (l2tp.start! (l2tp.new "isp" {:ppp "ppp1" :poll 5})))

(s:test "starts xl2tpd in the foreground with its control FIFO"
        #(do (setup)
             (t.is= ["xl2tpd" "-D" "-c" "/etc/xl2tpd/xl2tpd.conf" "-C" "/run/xl2tpd/l2tp-control"]
                    (. (xl2tpd) :spec :argv))
             (t.is= :waiting-for-tunnel (pub :state))
             (t.is= :down (. (pub :tunnel) :state))))

(s:test "no connect-lac before the tunnel is established; one after"
        #(do (setup)
             (fake.advance! 5)
             (answer-probe! 0)
             (t.is= [] (spawned " connect-lac"))
             (fake.advance! 5)
             (answer-probe! 1)
             (t.is= :established (. (pub :tunnel) :state))
             (t.is= 1 (length (spawned " connect-lac")))
             (t.is= ["xl2tpd-control" "-c" "/run/xl2tpd/l2tp-control" "connect-lac" "isp"]
                    (. (spawned " connect-lac") 1 :spec :argv))
             (t.is= :connecting (pub :state))
             (fake.advance! 5)
             (answer-probe! 1)
             (t.is= 1 (length (spawned " connect-lac")) "no second connect while connecting")
             (fake.netlink! {:kind :link :ifname "ppp1" :up true :running true})
             (t.is= :up (pub :state))
             (t.is= :up (. (pub :session) :state))))

(s:test "xl2tpd's log line establishes the tunnel between polls"
        #(do (setup)
             (fake.line! (xl2tpd) :stderr "Connection established to 192.0.2.1, 1701.  Local: 1, Remote: 2 (ref=0/0).  LNS session is 'default'")
             (t.is= :established (. (pub :tunnel) :state))
             (t.is= 1 (length (spawned " connect-lac")))))

(s:test "a session that does not come up is retried with doubling backoff"
        #(do (setup)
             (fake.line! (xl2tpd) :stderr "Connection established to 192.0.2.1, 1701.")
             (fake.advance! 30)
             (t.is= 1 (length (spawned "disconnect-lac")))
             (t.is= 1 (. (pub :session) :backoff))
             (fake.advance! 1)
             (t.is= 2 (length (spawned " connect-lac")))
             (fake.advance! 30)
             (t.is= 2 (. (pub :session) :backoff))
             (fake.advance! 1.9)
             (t.is= 2 (length (spawned " connect-lac")))
             (fake.advance! 0.1)
             (t.is= 3 (length (spawned " connect-lac")))))

(s:test "tunnel lost: session down, no connect until it is back"
        #(do (setup)
             (fake.line! (xl2tpd) :stderr "Connection established to 192.0.2.1, 1701.")
             (fake.netlink! {:kind :link :ifname "ppp1" :up true :running true})
             (fake.line! (xl2tpd) :stderr "Connection 1 closed to 192.0.2.1, port 1701 (Goodbye!)")
             (t.is= :down (. (pub :tunnel) :state))
             (t.is= :waiting-for-tunnel (pub :state))
             (fake.advance! 60)
             (answer-probe! 0)
             (t.is= 1 (length (spawned " connect-lac")))))

(s:test "xl2tpd dies: backoff 1 then 2; a dead control FIFO restarts it"
        #(do (setup)
             (fake.exit! (xl2tpd) {:code 1})
             (t.is= :backoff (pub :state))
             (t.is= 1 (pub :backoff))
             (fake.advance! 1)
             (t.is= 2 (length (spawned "xl2tpd -D")))
             (fake.exit! (xl2tpd) {:code 1})
             (t.is= 2 (pub :backoff))
             (fake.advance! 2)
             (for [_ 1 3] (fake.advance! 5) (answer-probe! nil 253))
             (fake.flush!)
             (t.is (fake.logged? "does not answer"))
             (t.is= :backoff (pub :state))
             (t.is= 3 (length (spawned "xl2tpd -D")))))

(s:test "missing xl2tpd: failed with reason, no retry loop"
        #(do (fake.reset!)
             (tset fake.missing "xl2tpd" true)
             (l2tp.start! (l2tp.new "isp"))
             (t.is= :failed (. fake.published :l2tp-isp :state))
             (t.is (string.find (. fake.published :l2tp-isp :reason) "unable to start xl2tpd"))
             (fake.advance! 100)
             (t.is= 0 (length fake.spawns))))

(s:test "log and reply parsing; arguments"
        #(do (t.is= :session-up (l2tp.parse-log-line "Call established with 192.0.2.1, Local: 3, Remote: 4, Serial: 1"))
             (t.is= nil (l2tp.parse-log-line "xl2tpd version 1.3.18 started"))
             (t.is= {:tunnels 2} (l2tp.parse-reply-line "00 AVAILABLE tunnels count=2"))
             (t.is= [nil "option --poll needs a positive number, not x"] [(l2tp.parse-args ["isp" "--poll" "x"])])
             (t.is= ["isp" {:ppp "ppp1"}] [(l2tp.parse-args ["isp" "--ppp" "ppp1"])])))

(s:done)
