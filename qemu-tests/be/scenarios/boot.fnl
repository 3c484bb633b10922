;; boot: a big-endian kernel runs `upd run` as PID 1 (through betool init),
;; which supervises netdev on eth0 and this scenario. The kernel and the
;; binary are big-endian; netdev publishes eth0 as the kernel has it (mac,
;; mtu, carrier); upd's netlink dumps (`upd.links`, the call that failed as
;; "attribute truncated" under qemu-mips-static) list every interface of
;; /sys/class/net by name, with the kernel's index and MTU; the console tool
;; (`upd status`, `upd get`) works.
;; timeout: 150

(scenario
 (fn []
   (check (= "mips" (trim (slurp "/proc/sys/kernel/arch"))) "the kernel is not mips (big-endian)")
   (let [elf (slurp "/bin/upscript")]
     (check (= 2 (elf:byte 6)) "/bin/upscript is not a big-endian ELF"))
   (check (is? "upd/pid" "1") (.. "upd/pid is " (tostring (val "upd/pid")) ", expected 1"))
   (check (= "/bin/upscript" (upd.self-exe)) (.. "self-exe is " (tostring (upd.self-exe))))
   (wait-for 20 "eth0/carrier = yes" #(is? "eth0/carrier" "yes"))
   (check (is? "eth0/state" "running") (.. "eth0/state is " (tostring (val "eth0/state"))))
   (check (is? "eth0/mac" (sys-net "eth0" "address"))
          (.. "eth0/mac " (tostring (val "eth0/mac")) " but the kernel has " (sys-net "eth0" "address")))
   (check (is? "eth0/mtu" (sys-net "eth0" "mtu")) (.. "eth0/mtu is " (tostring (val "eth0/mtu"))))
   ;; The dumps, against sysfs.
   (let [(links msg) (upd.links)
         seen {}]
     (check links (.. "upd.links failed: " (tostring msg)))
     (each [_ l (ipairs links)]
       (tset seen l.ifname true)
       (check (= (tostring l.index) (sys-net l.ifname "ifindex"))
              (.. l.ifname ": index " l.index " but sysfs says " (tostring (sys-net l.ifname "ifindex"))))
       (check (= (tostring l.mtu) (sys-net l.ifname "mtu"))
              (.. l.ifname ": mtu " (tostring l.mtu) " but sysfs says " (tostring (sys-net l.ifname "mtu")))))
     (each [_ name (ipairs ["lo" "eth0"])]
       (check (. seen name) (.. "upd.links has no " name " (" (# links) " links)")))
     (info (.. "upd.links: " (table.concat (icollect [_ l (ipairs links)] (.. l.ifname "#" l.index)) " "))))
   (let [(addrs msg) (upd.addresses "lo")]
     (check addrs (.. "upd.addresses failed: " (tostring msg)))
     (check (accumulate [found false _ a (ipairs addrs)] (or found (= a.address "127.0.0.1")))
            "upd.addresses lo has no 127.0.0.1"))
   ;; The console tool, as a user would run it.
   (let [(code lines) (run ["/bin/upd" "get" "eth0/carrier"])]
     (check (and (= code 0) (= (. lines 1) "yes")) (.. "upd get eth0/carrier: " (table.concat lines " | "))))
   (let [(code lines) (run ["/bin/upd" "status"])
         text (table.concat lines "\n")]
     (check (= code 0) (.. "upd status: exit " code))
     (check (text:find "\neth0 ") (.. "upd status has no eth0 line: " text))
     (info (.. "upd status: " (table.concat lines " | "))))))
