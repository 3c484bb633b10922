(local t (require :upd.test))
(local h (require :tests.mqtt-fake))
(local fake h.fake)
(h.install!)
(local fleet (require :upd.fleet))
(local s (t.suite "fleet"))

(fn matches? [filter topic]
  (let [f (icollect [l (string.gmatch filter "[^/]+")] l)
        tl (icollect [l (string.gmatch topic "[^/]+")] l)]
    (var ok? true)
    (each [i fl (ipairs f) &until (or (not ok?) (= fl "#"))]
      (set ok? (or (= fl "+") (= fl (. tl i)))))
    (and ok? (or (= (. f (length f)) "#") (= (length f) (length tl))))))

(fn broker! [retained ?refuse-set]
  "A broker in the loop: answers what the client writes, holds RETAINED
  (topic -> payload); with ?refuse-set it drops set/ publishes (an ACL)."
  (set fake.run
       (fn []
         (var guard 0)
         (while (and (not fake.stopped?) (< guard 200))
           (set guard (+ guard 1))
           (each [_ rec (ipairs fake.spawns)]
             (when rec.running
               (each [_ p (ipairs (h.take! rec.pid))]
                 (case p.type
                   :connect (h.send! rec.pid (h.connack))
                   :subscribe (do (h.send! rec.pid (h.suback p.id))
                                  (set rec.subs (or rec.subs []))
                                  (each [_ f (ipairs p.filters)]
                                    (table.insert rec.subs f)
                                    (each [topic payload (pairs retained)]
                                      (when (matches? f topic) (h.send! rec.pid (h.publish topic payload true))))))
                   :publish (do (when p.id (h.send! rec.pid (h.puback p.id)))
                                (when (not (and ?refuse-set (p.topic:find "/set/")))
                                  (when p.retain (tset retained p.topic p.payload))
                                  (when (accumulate [m false _ f (ipairs (or rec.subs []))] (or m (matches? f p.topic)))
                                    (h.send! rec.pid (h.publish p.topic p.payload false)))))
                   :pingreq (h.send! rec.pid "\208\0")
                   :disconnect (fake.exit! rec {:code 0})))))
           (fake.advance! 0.5))
         true)))

(fn run [args ?stdin]
  (let [out [] err []
        sys {:out #(table.insert out $1) :err #(table.insert err $1) :clock #"12:00:00"
             :lines #(string.gmatch (or ?stdin "") "[^\n]+")}]
    (set fake.stopped? false)
    (let [code (fleet.main fake sys args)]
      (values code (table.concat out) (table.concat err)))))

(local b ["--broker" "mqtts://broker.example" "--ca" "ca.pem" "--cert" "op.pem" "--key" "op.key"])
(fn with-b [...] (let [a [...]] (each [_ x (ipairs b)] (table.insert a x)) a))

(local fleet-state
  {"upd/r1/status" "online" "upd/r1/pppoe/state" "up" "upd/r1/eth0/state" "running"
   "upd/r1/eth0/mtu" "1500" "upd/r1/set/ssh-keys/admin" "ssh-ed25519 AAAA"
   "upd/r2/status" "offline" "upd/r2/pppoe/state" "backoff"})

(s:test "usage: exit 2 and the usage text"
        #(do (h.reset!)
             (let [(code _ err) (run ["bogus"])] (t.is= 2 code) (t.is (err:find "unknown command bogus" 1 true)))
             (let [(code _ err) (run ["status"])] (t.is= 2 code) (t.is (err:find "--broker is required" 1 true)))
             (let [(code _ err) (run (with-b "set" "r1" "ssh-keys"))] (t.is= 2 code) (t.is (err:find "bad arguments" 1 true)))
             (let [(code) (run (with-b "show" "a/b"))] (t.is= 2 code))
             (let [(code out) (run ["help"])] (t.is= 0 code) (t.is (out:find "status %[%-%-json%]")))))

(s:test "status: one line per router, online/offline, each service's state"
        #(do (h.reset!)
             (broker! (collect [k v (pairs fleet-state)] (values k v)))
             (let [(code out) (run (with-b "status"))]
               (t.is= 0 code)
               (t.is= (.. "ROUTER STATUS   SERVICES\n"
                          "r1     online   eth0:running pppoe:up\n"
                          "r2     offline  pppoe:backoff\n")
                      out))
             (t.is= ["openssl" "s_client"] [(. (fake.last-spawn) :spec :argv 1) (. (fake.last-spawn) :spec :argv 2)])
             (let [(code out) (run (with-b "status" "--json"))]
               (t.is= 0 code)
               (t.is= "{\"r1\":{\"services\":{\"eth0\":\"running\",\"pppoe\":\"up\"},\"status\":\"online\"},\"r2\":{\"services\":{\"pppoe\":\"backoff\"},\"status\":\"offline\"}}\n" out))))

(s:test "show: a router's trees, one service, one value; absent is exit 1"
        #(do (h.reset!)
             (broker! (collect [k v (pairs fleet-state)] (values k v)))
             (let [(code out) (run (with-b "show" "r1" "eth0"))]
               (t.is= 0 code) (t.is= "mtu 1500\nstate running\n" out))
             (let [(code out) (run (with-b "show" "r1" "eth0" "mtu"))]
               (t.is= 0 code) (t.is= "1500\n" out))
             (let [(code out) (run (with-b "show" "r1"))]
               (t.is= 0 code) (t.is (out:find "set\n  ssh%-keys\n    admin ssh%-ed25519 AAAA\n")))
             (let [(code _ err) (run (with-b "show" "r9"))]
               (t.is= 1 code) (t.is (err:find "r9: not found" 1 true)))))

(s:test "set: a retained QoS 1 message under set/, confirmed by its echo; - reads stdin"
        #(do (h.reset!)
             (let [retained {}]
               (broker! retained)
               (let [(code) (run (with-b "set" "r1" "ssh-keys/alice" "ssh-ed25519 BBBB alice"))]
                 (t.is= 0 code)
                 (t.is= "ssh-ed25519 BBBB alice" (. retained "upd/r1/set/ssh-keys/alice")))
               (let [(code) (run (with-b "set" "r1" "ssh-keys/team/bob" "-") "line1\nline2\n")]
                 (t.is= 0 code)
                 (t.is= "line1\nline2" (. retained "upd/r1/set/ssh-keys/team/bob")))
               (let [(code) (run (with-b "set" "r1" "ssh-keys/alice" ""))]
                 (t.is= 0 code "an empty value removes it")
                 (t.is= "" (. retained "upd/r1/set/ssh-keys/alice"))))))

(s:test "set refused by the broker's ACL: no echo, exit 1, saying so"
        #(do (h.reset!)
             (broker! {} true)
             (let [(code _ err) (run (with-b "set" "r1" "ssh-keys/alice" "k"))]
               (t.is= 1 code)
               (t.is (err:find "the broker did not deliver it back (does its ACL let you write set/?)" 1 true) err))))

(s:test "watch: a line per message as it comes, a removed value as (gone)"
        #(do (h.reset!)
             (broker! {"upd/r2/status" "offline" "upd/r2/pppoe/state" "backoff" "upd/r2/gone/x" ""
                       "upd/r1/status" "online"})
             (let [(code out err) (run (with-b "watch" "r2"))
                   lines (doto (icollect [l (out:gmatch "[^\n]+")] l) table.sort)]
               (t.is= 0 code err)
               (t.is= ["12:00:00 r2 gone/x (gone)" "12:00:00 r2 pppoe/state backoff" "12:00:00 r2 status offline"]
                      lines "r2's topics only")
               (t.is= "upd/r2/#" (. fake.spawns 1 :subs 1) "subscribed to r2's")
               (let [(code _ err) (run (with-b "watch" "a/b"))] (t.is= 2 code) (t.is (err:find "bad arguments" 1 true))))))

(s:test "credentials: a password file unreadable or readable by others is refused"
        #(do (h.reset!)
             (set h.modes {"/op.pw" 420})
             (let [(code _ err) (run (with-b "status" "--user" "op" "--password-file" "/op.pw"))]
               (t.is= 2 code) (t.is (err:find "--password-file: /op.pw is readable by others (mode 644)" 1 true) err))
             (set h.modes {"op.key" 420})
             (let [(code _ err) (run (with-b "status"))]
               (t.is= 2 code) (t.is (err:find "--key: op.key is readable by others" 1 true) err))
             (set h.modes {})
             (let [(code _ err) (run (with-b "status" "--user" "op" "--password-file" "/nonexistent/pw"))]
               (t.is= 2 code) (t.is (err:find "--password-file: /nonexistent/pw: No such file" 1 true) err))))

(s:test "no broker: exit 1 with the transport's reason"
        #(do (h.reset!)
             (set fake.run (fn []
                             (each [_ rec (ipairs fake.spawns)]
                               (when rec.running (fake.exit! rec {:code 1})))
                             true))
             (let [(code _ err) (run (with-b "status"))]
               (t.is= 1 code)
               (t.is (err:find "upd: fleet: mqtts://broker.example: transport exited with code 1" 1 true) err))))

(s:done)
