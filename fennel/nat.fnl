;; nat: IPv4 masquerading from the LAN out of the WAN interface(s), the
;; router's NAT (IPv6 is routed: the LAN has the delegated prefix).
;;
;; `nat WAN-IF... [--source CIDR] [--work FILE] [--nft PATH] [--name NAME]`
;; Applies, as one `nft -f FILE` transaction, a table `ip upd_nat` of its
;; own: a nat chain on postrouting masquerading what leaves by WAN-IF
;; (by name: a ppp0 that pppd re-creates is matched again), from --source
;; only when given. Other tables (the firewall's `inet upd`) are not
;; touched. A failed apply is retried with backoff (1 s doubling to 60 s).
;; Forwarding (net.ipv4.ip_forward) is the system's configuration.
;; Publishes <name> (default "nat"): state (applying applied failed),
;; reason, interfaces/N, source, applies.
(local upd (require :upd))
(local policy (require :upd.policy))

(fn render [wan-ifs ?source]
  (let [match-if (.. "oifname { " (table.concat (icollect [_ i (ipairs wan-ifs)]
                                                     (.. "\"" i "\"")) ", ") " }")]
    (.. "table ip upd_nat\ndelete table ip upd_nat\ntable ip upd_nat {\n"
        "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;\n"
        "    " match-if (if ?source (.. " ip saddr " ?source) "") " masquerade\n  }\n}\n")))

(fn publish! [s]
  (upd.publish s.name {:state s.state :reason s.reason :interfaces s.wan-ifs
                       :source s.source :applies s.applies}))

(fn apply! [s]
  (set s.state :applying)
  (policy.on-start s.retry (upd.now))
  (let [failed (fn [msg]
                 (set s.state :failed)
                 (set s.reason msg)
                 (upd.log :err msg)
                 (upd.after (policy.on-exit s.retry (upd.now)) #(apply! s))
                 (publish! s))]
    (case (upd.write-file s.work (render s.wan-ifs s.source) 384)
      (nil msg) (failed (.. "unable to write " s.work ": " msg))
      true (case (upd.spawn {:argv [s.nft "-f" s.work]
                             :on-exit (fn [st]
                                        (if (= st.code 0)
                                            (do (set s.state :applied)
                                                (set s.reason nil)
                                                (set s.applies (+ s.applies 1))
                                                (policy.on-healthy s.retry)
                                                (publish! s))
                                            (failed (.. s.nft " -f " s.work " failed (code "
                                                        (tostring st.code) ")"))))})
             (nil msg) (failed (.. "unable to run " s.nft ": " msg)))))
  (publish! s))

(fn new [wan-ifs ?opts]
  (let [opts (or ?opts {})]
    {: wan-ifs :source opts.source :name (or opts.name (upd.service-name "nat"))
     :work (or opts.work "/tmp/upd-nat.nft") :nft (or opts.nft "nft")
     :state :applying :applies 0
     :retry (policy.new {:initial 1 :max 60 :healthy-after false})}))

(fn start! [s] (apply! s) s)

(local usage "usage: nat WAN-IF... [--source CIDR] [--work FILE] [--nft PATH] [--name NAME]")

(fn parse-args [args]
  (let [opts {} pos []]
    (var (i err) (values 1 nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) v (. args (+ i 1))]
        (if (. {"--source" 1 "--work" 1 "--nft" 1 "--name" 1} a)
            (if (= nil v) (set err (.. a " needs a value"))
                (and (= a "--source") (not (v:match "^%d+%.%d+%.%d+%.%d+/%d+$")))
                (set err (.. "--source needs an IPv4 ADDRESS/LENGTH, not " v))
                (do (tset opts (a:sub 3) v) (set i (+ i 1))))
            (a:match "^%-") (set err (.. "unknown option " a))
            (not (a:match "^[%w%._:%-]+$")) (set err (.. "not an interface name: " a))
            (table.insert pos a)))
      (set i (+ i 1)))
    (if err (values nil err)
        (= 0 (length pos)) (values nil "expected at least one WAN interface")
        (values pos opts))))

(fn main [args]
  (case (parse-args args)
    (nil msg) (do (io.stderr:write (.. "nat: " msg "\n" usage "\n")) (os.exit 100))
    (wan-ifs opts) (do (start! (new wan-ifs opts)) (upd.run))))


{: main : new : start! : render : parse-args}
