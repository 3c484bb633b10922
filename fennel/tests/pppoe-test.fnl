(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local pppoe (require :pppoe))
(local hook (require :ppp-hook))
(local s (t.suite "pppoe"))

(fn link [ifname carrier? ?up]
  {:kind :link : ifname :index 2 :up (if (= nil ?up) true ?up) :running carrier?
   :carrier carrier? :operstate (if carrier? :up :down) :mtu 1500})

(fn state [] (. fake.published :pppoe :state))
(fn published [key] (. fake.published :pppoe key))
(fn pppds [] (icollect [_ r (ipairs fake.spawns)] (when (= "pppd" (. r.spec.argv 1)) r)))
(fn last-pppd [] (fake.last-spawn "pppd"))

(fn setup [?carrier]
  (fake.reset!)
  (set fake.link-dump [(link "eth0" ?carrier)])
  (pppoe.start! (pppoe.new "eth0" "ppp0")))

(fn test [name f] (s:test name f))

(test "waits for carrier, then starts pppd with the PPPoE plugin on eth0"
      #(do (setup false)
           (t.is= :waiting-for-carrier (state))
           (t.is= [] (pppds))
           (fake.netlink! (link "eth0" true))
           (t.is= :starting (state))
           (let [argv (table.concat (. (last-pppd) :spec :argv) " ")]
             (each [_ want (ipairs ["plugin pppoe.so" "nic-eth0" "ifname ppp0" "nodetach"
                                    "noipdefault" "defaultroute" "usepeerdns" "maxfail 1"
                                    "lcp-echo-interval" "ip-up-script" "ip-down-script"
                                    "ipparam pppoe.link"])]
               (t.is (argv:find want 1 true) (.. "pppd argv has " want ": " argv))))
           (t.is= (. (last-pppd) :pid) (published :pid))))

(test "carrier at start-up starts pppd immediately; interface names published"
      #(do (setup true)
           (t.is= 1 (length (pppds)))
           (t.is= "eth0" (published :interface))
           (t.is= "ppp0" (published :ppp-interface))))

(test "backoff doubles on each failure: 1, 2, 4"
      #(do (setup true)
           (var delays [])
           (for [_ 1 3]
             (fake.exit! (last-pppd) {:code 8})
             (t.is= :backoff (state))
             (let [d (published :backoff)]
               (table.insert delays d)
               (fake.advance! (- d 0.01))
               (t.is= :backoff (state) "still waiting just before the delay ends")
               (fake.advance! 0.01)
               (t.is= :starting (state))))
           (t.is= [1 2 4] delays)
           (t.is= 4 (length (pppds)))))

(test "backoff resets after a connection (ppp0 running)"
      #(do (setup true)
           (fake.exit! (last-pppd) {:code 8}) (fake.advance! 1)
           (fake.exit! (last-pppd) {:code 8}) (fake.advance! 2)
           (fake.netlink! (link "ppp0" true))
           (t.is= :up (state))
           (fake.exit! (last-pppd) {:code 16})
           (t.is= 1 (published :backoff))))

(test "ip-up data from the hook's service is merged, only for the running pppd"
      #(do (setup true)
           (let [pid (tostring (. (last-pppd) :pid))]
             (fake.emit-tree! "pppoe.link" {:state :up :interface "ppp0" :pppd-pid "999"
                                           :local-address "192.0.2.9"})
             (t.is= :starting (state) "a stale hook tree from another pppd is ignored")
             (t.is= nil (published :local-address))
             (fake.emit-tree! "pppoe.link" {:state :up :interface "ppp0" :pppd-pid pid
                                           :local-address "192.0.2.7" :remote-address "192.0.2.1"
                                           :dns ["198.51.100.1" "198.51.100.2"] :since 12})
             (t.is= :up (state))
             (t.is= "192.0.2.7" (published :local-address))
             (t.is= ["198.51.100.1" "198.51.100.2"] (published :dns))
             (fake.exit! (last-pppd) {:code 16})
             (t.is= nil (published :local-address) "no stale address once pppd is gone")
             (t.is= 1 (published :backoff) "the hook's up also reset the backoff"))))

(test "stops pppd on carrier loss; restarts without backoff when it returns"
      #(do (setup true)
           (fake.exit! (last-pppd) {:code 8}) (fake.advance! 1)
           (fake.exit! (last-pppd) {:code 8}) ; now backing off 2 s
           (fake.advance! 2)
           (t.is= :starting (state))
           (fake.netlink! (link "eth0" false))
           (t.is= :stopping (state))
           (t.is= :TERM (. fake.kills (length fake.kills) :signal))
           (fake.flush!) ; pppd exits on SIGTERM
           (t.is= :waiting-for-carrier (state))
           (fake.advance! 30)
           (t.is= 3 (length (pppds)) "nothing started without carrier")
           (fake.netlink! (link "eth0" true))
           (t.is= 4 (length (pppds)) "restarted at once, no backoff")
           (t.is= :starting (state))))

(test "never two pppd at once, even when carrier flaps during a stop"
      #(do (setup true)
           (set fake.auto-exit-on-terminate false)
           (fake.netlink! (link "eth0" true))
           (fake.netlink! (link "eth0" true))
           (t.is= 1 (length (pppds)))
           (fake.netlink! (link "eth0" false))
           (fake.netlink! (link "eth0" true))
           (t.is= 1 (length (pppds)) "old pppd still exiting")
           (t.is= 1 (fake.running-count "pppd"))
           (fake.exit! (last-pppd) {:signal 15})
           (t.is= 2 (length (pppds)))
           (t.is= 1 (fake.running-count "pppd"))))

(test "missing pppd: failed with a reason, one log line, no retry loop"
      #(do (fake.reset!)
           (tset fake.missing "pppd" true)
           (set fake.link-dump [(link "eth0" true)])
           (pppoe.start! (pppoe.new "eth0" "ppp0"))
           (t.is= :failed (state))
           (t.is (string.find (published :reason) "unable to start pppd"))
           (fake.advance! 600)
           (fake.netlink! (link "eth0" true))
           (t.is= 1 (length fake.logs))
           (t.is= :failed (state))))

(test "pppd option error (exit 2) is failed, not retried"
      #(do (setup true)
           (fake.exit! (last-pppd) {:code 2})
           (t.is= :failed (state))
           (t.is (string.find (published :reason) "option error"))
           (fake.advance! 600)
           (t.is= 1 (length (pppds)))))

(test "address events on eth0 and ppp0 are not carrier changes"
      ;; Regression: eth0's IPv6 link-local address arrived as an event with no
      ;; link fields and was taken for carrier loss: pppd was stopped for good.
      #(do (setup true)
           (fake.netlink! (link "ppp0" true))
           (t.is= :up (state))
           (let [pid (. (last-pppd) :pid)]
             (fake.netlink! {:kind :address :action :add :ifname "eth0" :index 2
                             :family :inet6 :address "fe80::1" :length 64})
             (fake.netlink! {:kind :address :action :add :ifname "ppp0" :index 3
                             :family :inet :address "10.0.0.2" :length 32})
             (t.is= :up (state))
             (t.is= 1 (length (pppds)))
             (t.is= pid (published :pid))
             (t.is (not (fake.killed? pid)) "pppd was not signalled"))))

(test "eth0 removed (hot-unplug): pppd is stopped"
      #(do (setup true)
           (let [pid (. (last-pppd) :pid)]
             (fake.netlink! (doto (link "eth0" false) (tset :removed true)))
             (t.is (fake.killed? pid) "pppd was signalled"))))

(test "no such interface: failed with reason, proceeds when it appears"
      #(do (fake.reset!)
           (pppoe.start! (pppoe.new "eth0" "ppp0"))
           (t.is= :failed (state))
           (t.is= "no interface eth0" (published :reason))
           (t.is (fake.logged? "no interface eth0"))
           (fake.netlink! (link "eth0" false))
           (t.is= :waiting-for-carrier (state))))

(test "an administratively down link is brought up once"
      #(do (setup false)
           (fake.netlink! (link "eth0" false false))
           (fake.netlink! (link "eth0" false false))
           (t.is= ["ip link set eth0 up"] (fake.commands))))

(test "argument errors are named"
      #(do (t.is= [nil "expected ETH and PPP interface names"] [(pppoe.parse-args ["eth0"])])
           (t.is= [nil "unknown option --bogus"] [(pppoe.parse-args ["eth0" "ppp0" "--bogus" "1"])])
           (let [(pos opts) (pppoe.parse-args ["eth0" "ppp0" "--name" "wan" "--" "user" "bob"])]
             (t.is= ["eth0" "ppp0"] pos)
             (t.is= "wan" opts.name)
             (t.is= ["user" "bob"] opts.extra))))

(test "ppp-hook: ip-up and ip-down trees (pppd's argv and variables)"
      #(let [env {:DNS1 "198.51.100.1" :DNS2 "" :PPPD_PID "4242" :CONNECT_TIME "360"}
             getenv #(. env $1)]
         (let [(name tree) (hook.tree-for :up ["ppp0" "" "0" "192.0.2.7" "192.0.2.1" "wan.link"] getenv 1796234545)]
           (t.is= "wan.link" name)
           (t.is= {:state :up :interface "ppp0" :pppd-pid "4242" :local-address "192.0.2.7"
                   :remote-address "192.0.2.1" :dns ["198.51.100.1"] :since 1796234545} tree))
         (let [(name tree) (hook.tree-for :down ["ppp0" "" "0" "192.0.2.7" "192.0.2.1" "../x"] getenv)]
           (t.is= "pppoe.link" name "an unusable ipparam falls back to pppoe.link")
           (t.is= "360" tree.uptime))
         (each [_ bad (ipairs ["control" "supervisor" ".wan" ""])]
           (t.is= "pppoe.link" (hook.tree-for :up ["ppp0" "" "0" "a" "b" bad] getenv)
                  (.. "upd's name rule refuses " (string.format "%q" bad))))
         (t.is= "pppoe.link" (hook.tree-for :up ["ppp0" "" "0" "a" "b"] getenv) "no ipparam")
         (t.is= nil (hook.tree-for :sideways ["ppp0"] getenv))))

(test "ppp-hook: since is the wall clock, whole seconds since the epoch (like the supervisor's)"
      #(let [(_ tree) (hook.tree-for :up ["ppp0" "" "0" "192.0.2.7" "192.0.2.1" "pppoe.link"] #nil)
             now (os.time)]
         (t.is= (math.floor tree.since) tree.since "an integer")
         (t.is (<= (math.abs (- now tree.since)) 2) (.. "near os.time: " tree.since))))

(test "ppp-hook: ipv6-up/ipv6-down publish the link-local pair as <ipparam>6"
      #(let [env {:PPPD_PID "4242" :CONNECT_TIME "60"}
             getenv #(. env $1)
             (name tree) (hook.tree-for :ipv6-up ["ppp0" "" "0" "fe80::5054:ff:fe00:1" "fe80::1" "pppoe.link"] getenv 7)]
         (t.is= "pppoe.link6" name)
         (t.is= {:state :up :interface "ppp0" :pppd-pid "4242" :local-address "fe80::5054:ff:fe00:1"
                 :remote-address "fe80::1" :since 7} tree)
         (t.is= ["pppoe.link6" {:state :down :interface "ppp0" :pppd-pid "4242" :uptime "60"}]
                [(hook.tree-for :ipv6-down ["ppp0" "" "0" "fe80::5054:ff:fe00:1" "fe80::1" "pppoe.link"] getenv)])))

(fn argv-of [opts]
  (fake.reset!)
  (set fake.link-dump [(link "eth0" true)])
  (pppoe.start! (pppoe.new "eth0" "ppp0" opts))
  (table.concat (. (last-pppd) :spec :argv) " "))

(test "pppd's cleared environment: a state root other than the default goes as `set UPD_ROOT=`"
      #(do (t.is (: (argv-of {:root "/tmp/run-42/upd"}) :find " set UPD_ROOT=/tmp/run-42/upd" 1 true))
           (when (not (os.getenv "UPD_ROOT"))
             (t.is (not (: (argv-of {}) :find "UPD_ROOT" 1 true)) "none for the default root"))))

(test "--mode pty: pppd over rp-pppoe's pty instead of the kernel plugin"
      #(let [argv (argv-of {:mode "pty" :pppoe "/usr/sbin/pppoe"})]
         (t.is (argv:find "pppd pty /usr/sbin/pppoe -I eth0 noaccomp default-asyncmap mtu 1492 ifname ppp0" 1 true) argv)
         (t.is (not (argv:find "plugin" 1 true)) argv)
         (t.is= "pty" (published :mode))
         (t.is= "kernel" (do (argv-of {}) (published :mode)))))

(test "--ipv6: +ipv6 defaultroute6 and the ipv6 scripts; an empty script path leaves pppd's own"
      #(do (t.is (: (argv-of {:ipv6 true}) :find "+ipv6 defaultroute6 ipv6-up-script /usr/libexec/upd/ppp-ipv6-up ipv6-down-script /usr/libexec/upd/ppp-ipv6-down" 1 true))
           (let [a (argv-of {:ipv6 true :ipv6-up "" :ipv6-down ""})]
             (t.is (a:find "+ipv6 defaultroute6" 1 true) a)
             (t.is (not (a:find "ipv6-up-script" 1 true)) a))
           (t.is (not (: (argv-of {}) :find "ipv6" 1 true)))))

(test "the ipv6 hook's link-local pair is merged under ipv6/, only for the running pppd"
      #(do (setup true)
           (let [pid (tostring (. (last-pppd) :pid))]
             (fake.emit-tree! "pppoe.link6" {:state :up :pppd-pid "1" :local-address "fe80::9"})
             (t.is= nil (published :ipv6))
             (fake.emit-tree! "pppoe.link6" {:state :up :interface "ppp0" :pppd-pid pid
                                            :local-address "fe80::2" :remote-address "fe80::1"})
             (t.is= {:local-address "fe80::2" :remote-address "fe80::1"} (published :ipv6))
             (fake.emit-tree! "pppoe.link6" {:state :down :pppd-pid pid})
             (t.is= nil (published :ipv6)))))

(test "kernel mode without kernel PPPoE: failed, the reason names it, no restart loop"
      #(do (setup true)
           (fake.line! (last-pppd) :stdout "Failed to create PPPoE socket: Address family not supported by protocol")
           (fake.exit! (last-pppd) {:code 1})
           (t.is= :failed (state))
           (t.is (: (published :reason) :find "no PPPoE support (CONFIG_PPPOE, pppoe.ko)" 1 true) (published :reason))
           (t.is (: (published :reason) :find "--mode pty" 1 true))
           (fake.advance! 300)
           (t.is= 1 (length (pppds)))
           (fake.netlink! (link "eth0" false))
           (fake.netlink! (link "eth0" true))
           (t.is= 2 (length (pppds)) "tried again after the carrier came back")
           ;; pppox loaded without pppoe: pppd 2.4.9's words in the emulated router
           (fake.line! (last-pppd) :stdout "Failed to create PPPoE socket: Protocol not supported")
           (fake.exit! (last-pppd) {:code 8})
           (t.is= :failed (state))
           (t.is (: (published :reason) :find "no PPPoE support" 1 true))))

(test "pty mode without PPP async, or without the pppoe program: the reason names it"
      #(do (argv-of {:mode "pty"})
           (fake.line! (last-pppd) :stdout "Couldn't set tty to PPP discipline: Invalid argument")
           (fake.exit! (last-pppd) {:code 1})
           (t.is (: (published :reason) :find "CONFIG_PPP_ASYNC" 1 true) (published :reason))
           (argv-of {:mode "pty"})
           (fake.line! (last-pppd) :stdout "sh: pppoe: not found")
           (fake.exit! (last-pppd) {:code 8})
           (t.is (: (published :reason) :find "the pppoe program (pppoe, rp-pppoe) is missing" 1 true) (published :reason))))

(test "an ordinary pppd line is only logged; the next exit is an ordinary backoff"
      #(do (setup true)
           (fake.line! (last-pppd) :stdout "LCP: timeout sending Config-Requests")
           (fake.exit! (last-pppd) {:code 8})
           (t.is= :backoff (state))
           (t.is (fake.logged? "LCP: timeout"))))

(test "mode and arguments"
      #(do (t.is= [nil "option --mode needs kernel or pty, not user"] [(pppoe.parse-args ["eth0" "ppp0" "--mode" "user"])])
           (let [(_ opts) (pppoe.parse-args ["eth0" "ppp0" "--ipv6" "--mode" "pty" "--ipv6-up" ""])]
             (t.is= {:ipv6 true :mode "pty" :ipv6-up ""} opts))
           ;; Options before the interfaces, and the last one wins: the
           ;; Liminix module puts its defaults first (nix/liminix/service.nix).
           (let [(pos opts) (pppoe.parse-args ["--mode" "pty" "--pppoe" "/p/pppoe" "--pppd" "/p/pppd"
                                               "eth0" "ppp0" "--mode" "kernel" "--" "user" "bob"])]
             (t.is= ["eth0" "ppp0"] pos)
             (t.is= {:mode "kernel" :pppoe "/p/pppoe" :pppd "/p/pppd" :extra ["user" "bob"]} opts))))

(s:done)
