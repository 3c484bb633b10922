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
(local args (require :upd.args))
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

(fn start! [s]
  (apply! s)
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "nat" :usage "nat WAN-IF... [--source CIDR] [--work FILE] [--nft PATH] [--name NAME]"
             :positional {:min 1 :error "expected at least one WAN interface"}
             :options {:source (args.matching "^%d+%.%d+%.%d+%.%d+/%d+$" "an IPv4 ADDRESS/LENGTH")
                       :work args.text :nft args.text :name args.text}
             :check #(accumulate [bad nil _ w (ipairs $1)]
                       (or bad (when (not (w:match "^[%w%._:%-]+$")) (.. "not an interface name: " w))))})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [(wan-ifs opts) (args.parse-or-exit spec argv)]
    (start! (new wan-ifs opts))
    (upd.run)))


{: main : new : start! : render : parse-args}
