(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local netdev (require :netdev))
(local s (t.suite "netdev"))

(fn link [?over]
  (let [l {:kind :link :ifname "eth0" :index 2 :up true :running true :carrier true
           :operstate "up" :mtu 1500 :mac "52:54:00:12:34:56" :promiscuous false}]
    (each [k v (pairs (or ?over {}))] (tset l k v))
    l))

(fn addr [action family address len]
  {:kind :address : action :ifname "eth0" :index 2 : family : address :length len})

(fn pub [] (. fake.published :eth0))

(fn setup [?opts]
  (fake.reset!)
  (set fake.link-dump [(link) (link {:ifname "lo" :index 1})])
  (set fake.address-dump [(addr :add :inet "10.0.0.1" 24)])
  (set fake.counter-values {:eth0 {:rx-packets 5 :tx-packets 6 :rx-bytes 700 :tx-bytes 800}})
  (netdev.start! (netdev.new "eth0" ?opts)))

(s:test "publishes the link, its addresses and counters at start"
        #(do (setup)
             (t.is= {:state :running :carrier true :operstate "up" :promiscuous false :mtu 1500
                     :mac "52:54:00:12:34:56"
                     :addresses [{:address "10.0.0.1" :length 24 :family :inet}]
                     :packets {:rx 5 :tx 6} :bytes {:rx 700 :tx 800}}
                    (pub))))

(s:test "carrier loss and admin down change state as events arrive"
        #(do (setup)
             (fake.netlink! (link {:running false :carrier false :operstate "lowerlayerdown"}))
             (t.is= :up (. (pub) :state))
             (t.is= false (. (pub) :carrier))
             (fake.netlink! (link {:up false :running false :carrier false :operstate "down"}))
             (t.is= :down (. (pub) :state))
             (fake.netlink! (link {:ifname "eth1"}))
             (t.is= :down (. (pub) :state) "other interfaces are ignored")))

(s:test "addresses are added and removed, sorted by family then address"
        #(do (setup)
             (fake.netlink! (addr :add :inet6 "fe80::1" 64))
             (fake.netlink! (addr :add :inet "10.0.0.0" 8))
             (t.is= ["10.0.0.0" "10.0.0.1" "fe80::1"]
                    (icollect [_ a (ipairs (. (pub) :addresses))] a.address))
             (fake.netlink! (addr :remove :inet "10.0.0.1" 24))
             (t.is= ["10.0.0.0" "fe80::1"]
                    (icollect [_ a (ipairs (. (pub) :addresses))] a.address))))

(s:test "counters refresh on the interval; --counters 0 disables them"
        #(do (setup {:counters 5})
             (set fake.counter-values.eth0 {:rx-packets 50 :tx-packets 60 :rx-bytes 7 :tx-bytes 8})
             (fake.advance! 4.9)
             (t.is= 5 (. (pub) :packets :rx))
             (fake.advance! 0.1)
             (t.is= 50 (. (pub) :packets :rx))
             (setup {:counters 0})
             (t.is= nil (. (pub) :packets))
             (t.is= 0 (length fake.timers))))

(s:test "an absent interface is published as absent, and disappearing resets it"
        #(do (fake.reset!)
             (netdev.start! (netdev.new "eth9"))
             (t.is= {:state :absent} (. fake.published :eth9))
             (setup)
             (fake.netlink! (link {:removed true}))
             (t.is= {:state :absent} (pub))))

(s:test "no publish when nothing changed"
        #(do (setup)
             (let [n (length fake.publishes)]
               (fake.netlink! (link))
               (fake.advance! 30)
               (t.is= n (length fake.publishes)))))

(s:test "arguments"
        #(do (t.is= [nil "option --counters needs a number >= 0, not x"]
                    [(netdev.parse-args ["eth0" "--counters" "x"])])
             (t.is= [nil "expected one interface name"] [(netdev.parse-args [])])
             (t.is= ["eth0" {:counters 0}] [(netdev.parse-args ["eth0" "--counters" "0"])])))

(s:done)
