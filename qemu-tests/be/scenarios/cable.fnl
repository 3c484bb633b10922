;; cable: the cable pulled through the QEMU monitor (set_link wan off): the
;; kernel's carrier goes, netdev publishes eth0/carrier = no and state up
;; within 1 s of the kernel (pcnet32 polls its PHY every 2 s: the kernel is
;; the reference); plugged back, carrier yes and state running again.
;; timeout: 150

(scenario
 (fn []
   (wait-for 20 "eth0/carrier = yes" #(is? "eth0/carrier" "yes"))
   (host "set_link wan off")
   (wait-for 6 "the kernel to see the carrier loss" #(= "0" (sys-net "eth0" "carrier")))
   (let [ms (wait-for 1 "eth0/carrier = no" #(is? "eth0/carrier" "no"))]
     (info (.. "eth0/carrier=no published " ms " ms after the kernel's carrier went")))
   (check (is? "eth0/state" "up") (.. "eth0/state is " (tostring (val "eth0/state")) " without carrier"))
   (host "set_link wan on")
   (wait-for 6 "the kernel to see the carrier" #(= "1" (sys-net "eth0" "carrier")))
   (let [ms (wait-for 1 "eth0/carrier = yes" #(is? "eth0/carrier" "yes"))]
     (info (.. "eth0/carrier=yes published " ms " ms after the kernel's carrier came")))
   (wait-for 2 "eth0/state = running" #(is? "eth0/state" "running"))))
