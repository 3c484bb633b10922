;; Every shipped service calls upd.ready once it is initialised and has
;; published its first tree (docs/services.md, "Readiness"), not before.
(local t (require :upd.test))
(local h (require :tests.mqtt-fake))
(local fake h.fake)
(h.install!)
(local s (t.suite "ready"))

(local services
  ;; name, the tree it publishes, a function starting it
  [["netdev" "eth0" #((. (require :netdev) :start!) ((. (require :netdev) :new) "eth0"))]
   ["pppoe" "pppoe" #(let [m (require :pppoe)] (m.start! (m.new "eth0" "ppp0")))]
   ["odhcp6c" "v6" #(let [m (require :odhcp6c)] (m.start! (m.new "wan" {:name "v6" :script "/dev/null"})))]
   ["nat" "nat" #(let [m (require :nat)] (m.start! (m.new ["ppp0"])))]
   ["firewall" "firewall" #(let [m (require :firewall)] (m.start! (m.new "blocklist")))]
   ["blocklist" "blocklist" #(let [m (require :blocklist)] (m.start! (m.new "http://x.invalid/")))]
   ["authorized-keys" "authorized-keys" #(let [m (require :authorized-keys)]
                                            (m.start! (m.new "ssh-keys" {:dropbear-args []})))]
   ["l2tp" "l2tp-isp" #(let [m (require :l2tp)] (m.start! (m.new "isp")))]
   ["mqtt-bridge" "mqtt-bridge"
    #(let [m (require :mqtt-bridge)]
       (m.start! (m.new (assert (m.parse-args ["--broker" "mqtts://broker.example" "--id" "r1"
                                                "--ca" "/etc/ca.pem" "--cert" "/etc/r1.pem"
                                                "--key" "/etc/r1.key"])))))]])

(each [_ [service tree start] (ipairs services)]
  (s:test (.. service ": ready after its first publish, in start!")
          #(do (h.reset!)
               (t.is= false fake.readied?)
               (start)
               (t.is fake.readied? (.. service " did not call upd.ready"))
               (t.is (not= nil (. fake.published tree)) (.. service " published no " tree))
               (t.is (>= fake.ready-at 1) (.. service " was ready before publishing")))))

(s:test "lan: ready once its first render is published (a moment after start!)"
        #(let [lan (require :lan)]
           (h.reset!)
           (lan.start! (lan.new "/c" ["pppoe"] {:interface "lan0"}))
           (t.is= false fake.readied?)
           (fake.advance! 0)
           (t.is fake.readied?)
           (t.is (not= nil fake.published.lan))
           (t.is (>= fake.ready-at 1))))

(s:done)
