;; veth: netdev on an interface that does not exist yet (vb0, a veth made
;; during the run): absent, then up without carrier while its peer is down,
;; running once the peer is up, down when set down, its MTU and MAC as the
;; kernel has them, and absent again when deleted.
;; services: {:name "vb0" :script "netdev" :args ["vb0"]}
;; timeout: 150

(scenario
 (fn []
   (wait-for 20 "vb0/state = absent" #(is? "vb0/state" "absent"))
   (sh "/bin/betool" "veth" "vb0" "vb1")
   (sh "/bin/betool" "link" "vb0" "up")
   (let [ms (wait-for 3 "vb0/state = up (peer down)" #(is? "vb0/state" "up"))]
     (info (.. "vb0 up " ms " ms after betool")))
   (check (is? "vb0/carrier" "no") "vb0 has carrier while its peer is down")
   (check (is? "vb0/mac" (sys-net "vb0" "address"))
          (.. "vb0/mac " (tostring (val "vb0/mac")) ", the kernel says " (sys-net "vb0" "address")))
   (sh "/bin/betool" "link" "vb1" "up")
   (wait-for 3 "vb0/state = running (peer up)" #(is? "vb0/state" "running"))
   (check (is? "vb0/carrier" "yes") "vb0/carrier is not yes with its peer up")
   (sh "/bin/betool" "link" "vb0" "down")
   (wait-for 3 "vb0/state = down" #(is? "vb0/state" "down"))
   (sh "/bin/betool" "del" "vb0")
   (wait-for 3 "vb0/state = absent after deletion" #(is? "vb0/state" "absent"))
   (check (= nil (val "vb0/mac")) "vb0/mac still published after deletion")))
