(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local l2tp (require :l2tp))
(local s (t.suite "l2tp"))

;; xl2tpd 1.3.18's own log lines (LAC side, -D: on stderr), as seen in the
;; emulated router (qemu-tests/scenarios/l2tp.sh).
(local log
  {:tunnel-up "xl2tpd[119]: Connection established to 192.0.2.1, 1701.  Local: 53743, Remote: 53750 (ref=0/0)."
   :calling "xl2tpd[119]: Calling on tunnel 53743"
   :call-up "xl2tpd[119]: Call established with 192.0.2.1, Local: 30961, Remote: 47381, Serial: 1 (ref=0/0)"
   :pppd-exit "xl2tpd[119]: child_handler : pppd exited for call 47381 with code 5"
   :call-close "xl2tpd[119]: call_close: Call 30961 to 192.0.2.1 disconnected"
   :peer-call-close "xl2tpd[119]: control_finish: Connection closed to 192.0.2.1, serial 2 ()"
   :tunnel-close "xl2tpd[119]: Connection 53750 closed to 192.0.2.1, port 1701 (Goodbye!)"
   :peer-tunnel-close "xl2tpd[118]: control_finish: Connection closed to 192.0.2.2, port 1701 (Goodbye!), Local: 53750, Remote: 53743"
   :retries "xl2tpd[119]: Maximum retries exceeded for tunnel 41403.  Closing."})

(fn pub [key] (. fake.published :l2tp-isp key))
(fn tunnel [] (. (pub :tunnel) :state))
(fn session [] (. (pub :session) :state))
(fn spawned [word]
  (icollect [_ r (ipairs fake.spawns)]
    (when (string.find (table.concat r.spec.argv " ") word 1 true) r)))
(fn connects [] (length (spawned " connect-lac")))
(fn xl2tpd [] (fake.last-spawn "xl2tpd"))
(fn xl2tpd-says [key] (fake.line! (xl2tpd) :stderr (. log key)))

(fn answer-probe! [tunnel-ids ?code]
  ;; the last probe prints its reply (debug mode, stderr) and exits; nil
  ;; tunnel-ids: no reply at all
  (let [probe (. (spawned "available") (length (spawned "available")))]
    (when tunnel-ids
      (fake.line! probe :stderr "xl2tpd-control: command response: ")
      (fake.line! probe :stderr "00 OK")
      (each [_ id (ipairs tunnel-ids)]
        (fake.line! probe :stderr (.. "00 AVAILABLE tunnel 0x55b38ca0, id " id
                                      ", ourtid 53743 has 1 calls and self 0x55b3a900")))
      (fake.line! probe :stderr (.. "00 AVAILABLE tunnels count=" (length tunnel-ids)))
      (fake.line! probe :stderr "00 AVAILABLE calls count=0"))
    (fake.exit! probe {:code (or ?code 0)})))

(fn first-probe! []
  ;; 0.2 s after xl2tpd starts, its FIFO answers: no tunnel yet
  (fake.advance! 0.2)
  (answer-probe! []))

(fn start [?opts]
  ;; mkdir (the FIFO's directory) succeeds, then xl2tpd starts
  (fake.reset!)
  (tset fake.auto-exit "mkdir" true)
  (l2tp.start! (l2tp.new "isp" (or ?opts {:ppp "ppp1" :poll 5})))
  (fake.flush!))

(fn setup [?opts]
  (start ?opts)
  (first-probe!))

(fn up! []
  ;; dial -> tunnel -> xl2tpd's call -> ppp1 running
  (xl2tpd-says :tunnel-up)
  (xl2tpd-says :call-up)
  (fake.netlink! {:kind :link :ifname "ppp1" :up true :running true}))

(s:test "starts xl2tpd in the foreground with its control FIFO, dials once the FIFO answers"
        #(do (start)
             (t.is= ["mkdir" "-p" "/run/xl2tpd" "/var/run/xl2tpd"] (. fake.spawns 1 :spec :argv)
                    "xl2tpd makes neither its FIFO's directory nor xl2tpd-control's")
             (t.is= ["xl2tpd" "-D" "-c" "/etc/xl2tpd/xl2tpd.conf" "-C" "/run/xl2tpd/l2tp-control"]
                    (. (xl2tpd) :spec :argv))
             (t.is= 0 (connects) "no dial before xl2tpd's FIFO exists")
             (fake.advance! 0.2)
             (answer-probe! nil 1)
             (t.is= 0 (connects) "nor while it does not answer")
             (fake.advance! 5)
             (answer-probe! [])
             (t.is= ["xl2tpd-control" "-c" "/run/xl2tpd/l2tp-control" "connect-lac" "isp"]
                    (. (spawned " connect-lac") 1 :spec :argv))
             (t.is= :waiting-for-tunnel (pub :state))
             (t.is= :connecting (tunnel))
             (t.is= :down (session) "no session before the tunnel")))

;; Regression (found with the real xl2tpd): a LAC's xl2tpd opens a tunnel only
;; when it dials, so waiting for a tunnel before connect-lac waited forever.
(s:test "the dial's tunnel comes first, then xl2tpd's call: one connect-lac"
        #(do (setup)
             (fake.advance! 5)
             (answer-probe! [0])
             (t.is= :connecting (tunnel) "a tunnel whose peer has not answered (id 0) is not established")
             (t.is= :down (session))
             (xl2tpd-says :tunnel-up)
             (t.is= :established (tunnel))
             (t.is= :connecting (session))
             (t.is= :connecting (pub :state))
             (xl2tpd-says :calling)
             (xl2tpd-says :call-up)
             (t.is= :connecting (session) "with --ppp, pppd started is not a session up")
             (fake.advance! 5)
             (answer-probe! [53750])
             (t.is= 1 (connects) "xl2tpd places the call: no second connect-lac")
             (fake.netlink! {:kind :link :ifname "ppp1" :up true :running true})
             (t.is= :up (pub :state))
             (t.is= :up (session))))

;; Regression: pppd renames its new unit (ppp0 -> ppp1) before it runs; that
;; event was taken for the session going down.
(s:test "the ppp interface appearing, not yet running, is not a session lost"
        #(do (setup)
             (xl2tpd-says :tunnel-up)
             (fake.netlink! {:kind :link :ifname "ppp1" :up false :running false})
             (fake.flush!)
             (t.is (not (fake.logged? "went down")))
             (t.is= :connecting (session))
             (t.is= 0 (. (pub :session) :backoff))))

(s:test "a probe reply older than a log event is ignored"
        #(do (setup)
             (fake.advance! 5)
             (xl2tpd-says :tunnel-up)
             (answer-probe! [])
             (t.is= :established (tunnel))
             (fake.advance! 5)
             (answer-probe! [53750])
             (t.is= :established (tunnel))
             (t.is= 1 (. (pub :tunnel) :count))
             (fake.advance! 5)
             (answer-probe! [])
             (t.is= :down (tunnel) "a newer reply without the tunnel takes it down")))

(s:test "the call closes, the tunnel stays: a call on it after the backoff"
        #(do (setup)
             (up!)
             (xl2tpd-says :pppd-exit)
             (t.is= :down (session))
             (t.is= :established (tunnel))
             (t.is= 1 (. (pub :session) :backoff))
             (xl2tpd-says :call-close)
             (fake.netlink! {:kind :link :action :remove :ifname "ppp1" :up false :running false})
             (t.is= 1 (connects))
             (fake.advance! 1)
             (t.is= 2 (connects))
             (t.is= :connecting (session) "a call on the established tunnel")
             (t.is= :established (tunnel))
             (fake.netlink! {:kind :link :ifname "ppp1" :up true :running true})
             (xl2tpd-says :peer-call-close)
             (t.is= :down (session) "the LNS hung up the call")
             (t.is= 1 (. (pub :session) :backoff) "the session had come up: backoff back to 1")))

(s:test "a dial that does not come up is retried with doubling backoff"
        #(do (setup)
             (fake.advance! 30)
             (t.is= 1 (length (spawned "disconnect-lac")))
             (t.is= 1 (. (pub :session) :backoff))
             (t.is= :down (tunnel))
             (fake.advance! 1)
             (t.is= 2 (connects))
             (xl2tpd-says :retries)
             (t.is= :down (tunnel))
             (t.is= 2 (. (pub :session) :backoff) "tunnel gave up: next delay doubled")
             (fake.advance! 1.9)
             (t.is= 2 (connects))
             (fake.advance! 0.1)
             (t.is= 3 (connects))))

(s:test "tunnel lost: session down, re-dialled after the backoff"
        #(do (setup)
             (up!)
             (xl2tpd-says :tunnel-close)
             (t.is= :down (tunnel))
             (t.is= :down (session))
             (t.is= :waiting-for-tunnel (pub :state))
             (t.is= 1 (connects))
             (fake.advance! 1)
             (t.is= 2 (connects))
             (t.is= :connecting (tunnel))
             (xl2tpd-says :tunnel-up)
             (t.is= :connecting (session))
             (xl2tpd-says :peer-tunnel-close)
             (t.is= :down (tunnel))))

(s:test "without --ppp, xl2tpd's call lines are the session"
        #(do (setup {:poll 5})
             (xl2tpd-says :tunnel-up)
             (xl2tpd-says :call-up)
             (t.is= :up (session))
             (t.is= :up (pub :state))
             (xl2tpd-says :pppd-exit)
             (t.is= :down (session))))

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

;; Regression: nothing reset xl2tpd's backoff, so every restart over the
;; router's life waited longer, up to the maximum.
(s:test "an established tunnel resets xl2tpd's backoff"
        #(do (setup)
             (fake.exit! (xl2tpd) {:signal 9})
             (fake.advance! 1)
             (fake.exit! (xl2tpd) {:signal 9})
             (t.is= 2 (pub :backoff))
             (fake.advance! 2)
             (up!)
             (fake.exit! (xl2tpd) {:signal 9})
             (t.is= 1 (pub :backoff))))

;; Regression: the dead daemon's session timer survived it and sent
;; disconnect-lac to the new xl2tpd, cutting its fresh dial.
(s:test "xl2tpd restarted: the old dial is forgotten, the new one dials at once"
        #(do (setup)
             (fake.advance! 20)
             (fake.exit! (xl2tpd) {:signal 9})
             (t.is= :down (tunnel))
             (fake.advance! 1)
             (t.is= 2 (length (spawned "xl2tpd -D")))
             (t.is= 1 (connects))
             (first-probe!)
             (t.is= 2 (connects) "dials as soon as the new xl2tpd answers")
             (fake.advance! 15)
             (t.is= 0 (length (spawned "disconnect-lac")))
             (t.is= :connecting (tunnel))))

(s:test "missing xl2tpd: failed with reason, no retry loop"
        #(do (fake.reset!)
             (tset fake.missing "xl2tpd" true)
             (tset fake.auto-exit "mkdir" true)
             (l2tp.start! (l2tp.new "isp"))
             (fake.flush!)
             (t.is= :failed (. fake.published :l2tp-isp :state))
             (t.is (string.find (. fake.published :l2tp-isp :reason) "unable to start xl2tpd"))
             (fake.advance! 100)
             (t.is= 1 (length fake.spawns) "only the one mkdir")))

(s:test "xl2tpd's last line is the reason when it exits; the directories are made again"
        #(do (start {:control "/tmp/l2tp-42/ctl"})
             (t.is= ["mkdir" "-p" "/tmp/l2tp-42" "/var/run/xl2tpd"] (. fake.spawns 1 :spec :argv))
             (fake.line! (xl2tpd) :stderr "xl2tpd[7]: open_controlfd: Unable to open /tmp/l2tp-42/ctl for reading.")
             (fake.exit! (xl2tpd) {:code 1})
             (t.is= :backoff (pub :state))
             (t.is= "xl2tpd exited (code 1): xl2tpd[7]: open_controlfd: Unable to open /tmp/l2tp-42/ctl for reading."
                    (pub :reason))
             (t.is (fake.logged? "open_controlfd") "xl2tpd's own line is logged")
             (fake.advance! 1)
             (t.is= 2 (length (spawned "mkdir -p /tmp/l2tp-42")))
             (t.is= 2 (length (spawned "xl2tpd -D")))
             (t.is= nil (pub :reason) "no reason while it runs")))

(s:test "log and reply parsing; arguments"
        #(do (t.is= :session-up (l2tp.parse-log-line (. log :call-up)))
             (t.is= :tunnel-up (l2tp.parse-log-line (. log :tunnel-up)))
             (t.is= :tunnel-down (l2tp.parse-log-line (. log :tunnel-close)))
             (t.is= :tunnel-down (l2tp.parse-log-line (. log :peer-tunnel-close)))
             (t.is= :tunnel-down (l2tp.parse-log-line (. log :retries)))
             (t.is= :session-down (l2tp.parse-log-line (. log :pppd-exit)))
             (t.is= :session-down (l2tp.parse-log-line (. log :call-close)))
             (t.is= :session-down (l2tp.parse-log-line (. log :peer-call-close)))
             (t.is= nil (l2tp.parse-log-line (. log :calling)))
             (t.is= nil (l2tp.parse-log-line "xl2tpd[119]: xl2tpd version xl2tpd-1.3.18 started on router PID:119"))
             (t.is= {:tunnels 2} (l2tp.parse-reply-line "00 AVAILABLE tunnels count=2"))
             (t.is= {:tunnel-id 0} (l2tp.parse-reply-line "00 AVAILABLE tunnel 0x55b38ca0, id 0, ourtid 53743 has 0 calls and self 0x55b3a900"))
             (t.is= nil (l2tp.parse-reply-line "00 AVAILABLE calls count=0"))
             (t.is= [nil "option --poll needs a positive number, not x"] [(l2tp.parse-args ["isp" "--poll" "x"])])
             (t.is= ["isp" {:ppp "ppp1"}] [(l2tp.parse-args ["isp" "--ppp" "ppp1"])])))

(s:done)
