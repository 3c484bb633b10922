(local t (require :upd.test))
(local h (require :tests.mqtt-fake))
(local fake h.fake)
(h.install!)
(local bridge (require :mqtt-bridge))
(local s (t.suite "mqtt-bridge"))

(local args ["--broker" "mqtts://broker.example" "--id" "r1" "--ca" "/etc/ca.pem"
             "--cert" "/etc/r1.pem" "--key" "/etc/r1.key" "--set" "ssh-keys"])

(fn transport [] (fake.last-spawn "openssl"))

(fn start [?extra ?before]
  (h.reset!)
  (when ?before (?before))
  (let [a (icollect [_ x (ipairs args)] x)]
    (each [_ x (ipairs (or ?extra []))] (table.insert a x))
    (let [opts (assert (bridge.parse-args a))]
      (bridge.start! (bridge.new opts)))))

(fn out [] (h.take! (. (transport) :pid)))
(fn send! [bytes] (h.send! (. (transport) :pid) bytes))
(fn publishes [packets] (h.of-type packets :publish))
(fn pub [k] (. fake.published :mqtt-bridge k))

(fn topics [packets]
  (doto (icollect [_ p (ipairs (publishes packets))] (.. p.topic "=" p.payload)) table.sort))

(fn connect! [?retained]
  "CONNACK, the broker's retained messages, then the echo of `online`; the
  packets written meanwhile."
  (send! (h.connack))
  (let [before (out)]
    (each [_ [topic payload] (ipairs (or ?retained []))]
      (send! (h.publish topic payload true)))
    (send! (h.publish "upd/r1/status" "online" false))
    (fake.advance! 0)
    (values (out) before)))

(fn ack-all! [packets]
  (each [_ p (ipairs (publishes packets))] (send! (h.puback p.id)))
  (fake.advance! 0))

(s:test "the command line: required, refused, defaults"
        #(do (t.is= "--broker is required" (select 2 (bridge.parse-args ["--id" "r1"])))
             (t.is= "bad router id \"a/b\" (letters, digits, . _ - :)"
                    (select 2 (bridge.parse-args ["--broker" "mqtts://b" "--id" "a/b"])))
             (t.is= "--cert needs --key" (select 2 (bridge.parse-args ["--broker" "mqtts://b" "--id" "r" "--cert" "c"])))
             (t.is= "--keepalive must be a number >= 1, not x"
                    (select 2 (bridge.parse-args ["--broker" "mqtts://b" "--id" "r" "--keepalive" "x"])))
             (t.is= "bad broker URL \"mqtt://b\" (expected mqtts://HOST[:PORT])"
                    (select 2 (bridge.parse-args ["--broker" "mqtt://b" "--id" "r"])))
             (t.is= "unknown argument --bogus" (select 2 (bridge.parse-args ["--bogus"])))
             (h.reset!)
             (set h.modes {"/etc/pw" 420 "/etc/k.key" 436})
             (t.is= "--password-file: /etc/pw is readable by others (mode 644): chmod o-r it"
                    (select 2 (bridge.parse-args ["--broker" "mqtts://b" "--id" "r" "--user" "u"
                                                  "--password-file" "/etc/pw"])))
             (t.is= "--key: /etc/k.key is readable by others (mode 664): chmod o-r it"
                    (select 2 (bridge.parse-args ["--broker" "mqtts://b" "--id" "r" "--cert" "c"
                                                  "--key" "/etc/k.key"])))
             (set h.modes {"/etc/k.key" 416})
             (t.is (bridge.parse-args ["--broker" "mqtts://b" "--id" "r" "--cert" "c" "--key" "/etc/k.key"])
                   "0640 (a group of its own) is fine")
             (let [o (bridge.parse-args ["--broker" "mqtts://b:1883" "--id" "r" "--services" "eth0,pppoe"
                                         "--set" "ssh-keys" "--set" "wifi"])]
               (t.is= {:eth0 true :pppoe true} o.services)
               (t.is= {:ssh-keys true :wifi true} o.set))))

(s:test "TLS through openssl s_client, the broker verified; CONNECT with the last will"
        #(do (start)
             (t.is= ["openssl" "s_client" "-quiet" "-verify_quiet" "-connect" "broker.example:8883"
                     "-verify_return_error" "-verify_hostname" "broker.example" "-servername" "broker.example"
                     "-CAfile" "/etc/ca.pem" "-cert" "/etc/r1.pem" "-key" "/etc/r1.key"]
                    (. (transport) :spec :argv))
             (t.is (. (transport) :spec :input))
             (t.is= :bytes (. (transport) :spec :output))
             (let [[c] (out)]
               (t.is= {:type :connect :id "upd-r1" :keepalive 60
                       :will {:topic "upd/r1/status" :payload "offline" :qos 1 :retain true}} c))
             (t.is= :connecting (pub :state))))

(s:test "at connect: the broker's retained state is read first, then only the difference is sent"
        #(do (start nil #(do (fake.emit-tree! "eth0" {:state "running" :mtu 1500})
                             (fake.emit-tree! "lan" {:state "up"})))
             (fake.advance! 0)
             (out)
             (send! (h.connack))
             (let [first (out)]
               (t.is= [{:type :subscribe :id 1 :filters ["upd/r1/#"]}
                       {:type :publish :topic "upd/r1/status" :payload "online" :qos 1 :retain true :id 2}]
                      first "subscribe to our own topics, then the marker")
               (t.is= :syncing (pub :state)))
             (send! (h.publish "upd/r1/eth0/state" "running" true))
             (send! (h.publish "upd/r1/eth0/old" "stale" true))
             (send! (h.publish "upd/r1/gone/x" "1" true))
             (fake.advance! 0)
             (t.is= [] (out) "nothing before the echo")
             (send! (h.publish "upd/r1/status" "online" false))
             (fake.advance! 0)
             (let [packets (out)]
               (t.is= ["upd/r1/set/#"] (. (h.of-type packets :subscribe) 1 :filters))
               (t.is= ["upd/r1/#"] (. (h.of-type packets :unsubscribe) 1 :filters))
               (t.is= ["upd/r1/eth0/mtu=1500" "upd/r1/eth0/old=" "upd/r1/gone/x=" "upd/r1/lan/state=up"]
                      (topics packets) "eth0/state is already there; stale ones cleared")
               (t.is (accumulate [all true _ p (ipairs (publishes packets))] (and all p.retain (= p.qos 1))))
               (t.is= :online (pub :state))
               (ack-all! packets)
               (t.is= 3 (pub :topics) "eth0/state, eth0/mtu, lan/state")
               (t.is= 0 (pub :pending)))))

(s:test "then only what changed; a withdrawn tree clears its messages; private and own trees stay home"
        #(do (start)
             (set h.private.secrets true)
             (fake.emit-tree! "secrets" {:pw "x"})
             (fake.emit-tree! "eth0" {:state "running" :mtu 1500})
             (fake.advance! 0)
             (ack-all! (connect!))
             (fake.emit-tree! "eth0" {:state "running" :mtu 1400})
             (fake.advance! 0)
             (let [p (out)] (t.is= ["upd/r1/eth0/mtu=1400"] (topics p)) (ack-all! p))
             (fake.emit-tree! "eth0" nil)
             (fake.advance! 0)
             (t.is= ["upd/r1/eth0/mtu=" "upd/r1/eth0/state="] (topics (out)))
             (t.is= nil (. fake.subscribers :secrets) "a private tree is not even subscribed")
             (t.is= nil (. fake.subscribers :mqtt-bridge))))

(s:test "--services names the trees, private or not"
        #(do (start ["--services" "secrets"])
             (set h.private.secrets true)
             (fake.emit-tree! "secrets" {:pw "x"})
             (fake.emit-tree! "eth0" {:state "running"})
             (fake.advance! 61)
             (t.is= ["upd/r1/secrets/pw=x"] (topics (connect!)))))

(s:test "a tree published later is found at the next change or rescan"
        #(do (start)
             (ack-all! (connect!))
             (fake.emit-tree! "late" {:state "up"})
             (fake.advance! 0)
             (t.is= [] (topics (out)))
             (fake.advance! 60)
             (t.is= ["upd/r1/late/state=up"] (topics (out)))))

(s:test "a subscription that fails (no inotify instance left) is said, and retried at the next rescan"
        #(do (h.reset!)
             (let [subscribe fake.subscribe]
               (fake.emit-tree! "eth0" {:state "running"})
               (set fake.subscribe (fn [] (values nil "subscribe eth0: inotify_init: Too many open files")))
               (bridge.start! (bridge.new (assert (bridge.parse-args args))))
               (t.is (fake.logged? "inotify_init: Too many open files"))
               (t.is= "subscribe eth0: inotify_init: Too many open files" (pub :reason))
               (set fake.subscribe subscribe)
               (fake.advance! 60)
               (t.is (not= nil (. fake.subscribers :eth0)) "subscribed at the rescan"))))

(s:test "the window: at most 16 unacknowledged publishes (status included), all in one write"
        #(do (start)
             (let [tree (let [t {}] (for [i 1 40] (tset t (.. "k" i) i)) t)]
               (fake.emit-tree! "big" tree))
             (fake.advance! 0)
             (send! (h.connack))
             (out)
             (var writes 0)
             (let [w fake.write]
               (set fake.write (fn [...] (set writes (+ writes 1)) (w ...)))
               (send! (h.publish "upd/r1/status" "online" false))
               (fake.advance! 0)
               (set fake.write w))
             (let [p (out)]
               (t.is= 15 (length (publishes p)))
               (t.is= 2 writes "subscribe and unsubscribe in one write, the publishes in another")
               (t.is= 25 (pub :pending))
               (ack-all! [(. (publishes p) 1)])
               (t.is= 1 (length (publishes (out))) "one acknowledged, one more sent"))))

(s:test "offline: only the latest state per topic, sent once back online"
        #(do (start)
             (fake.emit-tree! "eth0" {:mtu 1500})
             (fake.advance! 0)
             (ack-all! (connect!))
             (fake.exit! (transport) {:code 1})
             (t.is= :offline (pub :state))
             (t.is= "transport exited with code 1" (pub :reason))
             (for [mtu 1400 1410] (fake.emit-tree! "eth0" {:mtu mtu}) (fake.advance! 0))
             (t.is= 1 (pub :pending) "one topic pending, whatever the number of changes")
             (fake.advance! 1)
             (t.is= 2 (length fake.spawns) "reconnected after the backoff's first second")
             (t.is= ["upd/r1/eth0/mtu=1410"] (topics (connect! [["upd/r1/eth0/mtu" "1500"]])))))

(s:test "reconnects follow upd.policy: 1 s, 2 s, 4 s; a connection up 10 s resets it"
        #(do (start)
             (fake.exit! (transport) {:code 1})
             (fake.advance! 0.9) (t.is= 1 (length fake.spawns))
             (fake.advance! 0.1) (t.is= 2 (length fake.spawns))
             (fake.exit! (transport) {:code 1})
             (fake.advance! 1.9) (t.is= 2 (length fake.spawns))
             (fake.advance! 0.1) (t.is= 3 (length fake.spawns))
             (fake.exit! (transport) {:code 1})
             (fake.advance! 4) (t.is= 4 (length fake.spawns))
             (connect!)
             (fake.advance! 11)
             (fake.exit! (transport) {:code 1})
             (fake.advance! 1) (t.is= 5 (length fake.spawns) "back to 1 s")))

(s:test "a refused CONNACK, a silent broker and a broken stream drop the connection"
        #(do (start)
             (send! (h.connack 5))
             (t.is (fake.logged? "connection refused: not authorized"))
             (t.is (fake.killed? (. (transport) :pid)))
             (start)
             (fake.advance! 20)
             (t.is (fake.logged? "no CONNACK"))
             (start)
             (connect!)
             (fake.advance! 60)
             (t.is= [{:type :pingreq}] (out))
             (fake.advance! 60)
             (t.is (fake.logged? "no answer in 60 s"))
             (start)
             (connect!)
             (send! "\16\0")
             (t.is (fake.logged? "protocol error: unexpected packet type 1"))))

(s:test "no echo of our status (the ACL refuses us): reconnect after 30 s, saying why"
        #(do (start)
             (send! (h.connack))
             (fake.advance! 30)
             (t.is (fake.logged? "may this router write and read upd/r1/#"))
             (t.is (fake.killed? (. (transport) :pid)))))

(local key "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5YWxpY2VhbGljZWFsaWNlYWxpY2U admin")

(s:test "set/: a --set service's tree is published, private; removals and conflicts"
        #(do (start)
             (connect! [["upd/r1/set/ssh-keys/admin" key]])
             (t.is= {:admin key} (. fake.published :ssh-keys))
             (t.is= {:private true} (. (. fake.publishes (length fake.publishes)) :opts)
                    "published private")
             (send! (h.publish "upd/r1/set/ssh-keys/team/bob" "b" false 1 9))
             (fake.advance! 0)
             (t.is= {:admin key :team {:bob "b"}} (. fake.published :ssh-keys))
             (t.is= [{:type :puback :id 9}] (out) "QoS 1 in: acknowledged")
             (send! (h.publish "upd/r1/set/ssh-keys/team" "x" false))
             (fake.advance! 0)
             (t.is (fake.logged? "refused upd/r1/set/ssh%-keys/team: team is a directory"))
             (send! (h.publish "upd/r1/set/ssh-keys/team/bob" "" false))
             (fake.advance! 0)
             (t.is= {:admin key} (. fake.published :ssh-keys) "removed, and its empty directory")
             (let [n (length fake.publishes)]
               (send! (h.publish "upd/r1/set/ssh-keys/admin" key true))
               (fake.advance! 0)
               (t.is= n (length fake.publishes) "the same tree again: not published"))))

(s:test "set/ refusals: unconfigured service, bad keys, oversized; each logged and counted"
        #(do (start)
             (connect!)
             (send! (h.publish "upd/r1/set/firewall/rules" "drop all" false))
             (send! (h.publish "upd/r1/set/ssh-keys/a b" "x" false))
             (send! (h.publish "upd/r1/set/ssh-keys/a\nfake: log line" "x" false))
             (send! (h.publish "upd/r1/set/ssh-keys//a" "x" false))
             (send! (h.publish "upd/r1/set/ssh-keys" "x" false))
             (send! (h.publish "upd/r1/set/ssh-keys/big" (string.rep "x" 65537) false))
             (send! (h.publish "upd/r1/set/ssh-keys/huge" (string.rep "x" 100000) false 1 4))
             (fake.advance! 0)
             (t.is (fake.logged? "refused upd/r1/set/firewall/rules: service firewall is not configured for remote set"))
             (t.is (fake.logged? "refused upd/r1/set/ssh%-keys/a b: bad key path"))
             (t.is (fake.logged? "refused upd/r1/set/ssh%-keys/a%?fake: log line: bad key path") "one line")
             (t.is (fake.logged? "65537 bytes %(max 65536%)"))
             (t.is (fake.logged? "refused upd/r1/set/ssh%-keys/huge: 100028 bytes"))
             (t.is= 7 (pub :refused))
             (t.is= [{:type :puback :id 4}] (out) "the oversized QoS 1 one is acknowledged all the same")
             (t.is= nil (. fake.published :firewall))
             (t.is= nil (. fake.published :ssh-keys) "nothing valid came: no tree")))

(s:test "set/: a key upd refuses (. or ..) is refused; a tree upd will not publish is not kept"
        #(do (start)
             (connect! [["upd/r1/set/ssh-keys/admin" key]])
             (send! (h.publish "upd/r1/set/ssh-keys/.." "x" false))
             (send! (h.publish "upd/r1/set/ssh-keys/a/./b" "x" false))
             (fake.advance! 0)
             (t.is (fake.logged? "refused upd/r1/set/ssh%-keys/%.%.: bad key path"))
             (t.is (fake.logged? "refused upd/r1/set/ssh%-keys/a/%./b: bad key path"))
             (t.is= {:admin key} (. fake.published :ssh-keys))
             (let [publish fake.publish]
               ;; as upd past its limits (4096 entries, 1 MiB of values)
               (set fake.publish (fn [name tree ?opts]
                                   (if (and (= name :ssh-keys) tree.flood) (values nil "tree has more than 4096 entries")
                                       (publish name tree ?opts))))
               (send! (h.publish "upd/r1/set/ssh-keys/flood" "x" false))
               (fake.advance! 0)
               (t.is (fake.logged? "refused upd/r1/set/ssh%-keys: tree has more than 4096 entries"))
               (send! (h.publish "upd/r1/set/ssh-keys/bob" "b" false))
               (fake.advance! 0)
               (set fake.publish publish))
             (t.is= {:admin key :bob "b"} (. fake.published :ssh-keys)
                    "the refused value was dropped; the next message still applies")
             (t.is= 3 (pub :refused))))

(s:test "set/: no message ever, no tree (a boot never empties keys); all removed while away: empty"
        #(do (start)
             (connect!)
             (t.is= nil (. fake.published :ssh-keys))
             (send! (h.publish "upd/r1/set/ssh-keys/admin" key false))
             (fake.advance! 0)
             (t.is= {:admin key} (. fake.published :ssh-keys))
             (fake.exit! (transport) {:code 1})
             (fake.advance! 1)
             (connect!)
             (t.is= {} (. fake.published :ssh-keys))))

(s:test "TERM: offline published, then DISCONNECT; the loop ends once the transport has"
        #(do (start)
             (connect!)
             ((. fake.signals :TERM))
             (let [p (out)]
               (t.is= [{:type :publish :topic "upd/r1/status" :payload "offline" :qos 1 :retain true :id 5}
                       {:type :disconnect}]
                      p))
             (t.is (not fake.stopped?))
             (fake.advance! 2)
             (fake.flush!)
             (t.is fake.stopped?)
             (t.is= :stopped (pub :state))))

(s:done)
