;; addresses: IPv4 and IPv6 addresses added to and removed from eth0 (by
;; betool, which speaks rtnetlink itself) reach netdev as netlink events on a
;; big-endian kernel: published with family, address and length, in order;
;; `upd.addresses` dumps the same; removals are published too.
;; timeout: 150

(fn published []
  (let [t (or (val "eth0/addresses") {})]
    (table.concat (icollect [_ a (ipairs t)] (.. a.family " " a.address "/" a.length)) ", ")))

(scenario
 (fn []
   (wait-for 20 "eth0/state = running" #(is? "eth0/state" "running"))
   (sh "/bin/betool" "addr" "add" "eth0" "10.9.0.1/24")
   (sh "/bin/betool" "addr" "add" "eth0" "192.0.2.77/32")
   (sh "/bin/betool" "addr" "add" "eth0" "2001:db8:be::1/64")
   (let [want "inet 10.9.0.1/24, inet 192.0.2.77/32, inet6 2001:db8:be::1/64"
         ms (wait-for 5 (.. "eth0/addresses has " want)
                      #(= want (: (published) :gsub ", inet6 fe80[^,]*" "")))]
     (info (.. "published " (published) " " ms " ms after the last add")))
   (let [(addrs msg) (upd.addresses "eth0")
         got (icollect [_ a (ipairs (or addrs []))] (.. a.address "/" a.length))]
     (check addrs (.. "upd.addresses failed: " (tostring msg)))
     (table.sort got)
     (check (= (table.concat got " ") (table.concat (doto (icollect [_ x (ipairs got)] x) (table.sort)) " ")) "sort")
     (each [_ want (ipairs ["10.9.0.1/24" "192.0.2.77/32" "2001:db8:be::1/64"])]
       (check (accumulate [f false _ g (ipairs got)] (or f (= g want)))
              (.. "upd.addresses eth0 lacks " want ": " (table.concat got " ")))))
   (sh "/bin/betool" "addr" "del" "eth0" "192.0.2.77/32")
   (sh "/bin/betool" "addr" "del" "eth0" "2001:db8:be::1/64")
   (wait-for 5 "eth0/addresses down to 10.9.0.1/24"
             #(= "inet 10.9.0.1/24" (: (published) :gsub ", inet6 fe80[^,]*" "")))
   (info (.. "after removals: " (published)))))
