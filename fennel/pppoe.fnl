;; pppoe: keeps one pppd running over ETH while ETH has carrier; restarts it
;; with exponential backoff, reset once the link is up. Two ways to speak
;; PPPoE (--mode): `kernel` (default) is pppd's pppoe.so plugin on the
;; kernel's PPPoE (CONFIG_PPPOE); `pty` is pppd `pty "pppoe -I ETH"`, the
;; user-space rp-pppoe client over a pty (CONFIG_PPP_ASYNC: Liminix's kernel
;; has PPP but no PPPoE). A kernel without what the mode needs is a failure
;; whose reason names it (read from pppd's output), not a restart loop.
;; --ipv6 adds `+ipv6 defaultroute6` and pppd's ipv6-up/ipv6-down scripts.
;;
;; Publishes <name> (`upd.service-name`, default "pppoe"): state
;; (waiting-for-carrier starting up backoff stopping failed), reason,
;; interface, ppp-interface, mode, backoff (seconds of the pending wait,
;; else 0), pid, and while up the ip-up data: local-address, remote-address,
;; dns/N, since (wall clock, seconds since the epoch), and with IPv6CP up
;; ipv6/{local-address,remote-address} (the link-local pair).
;; Subscribes: netlink (ETH carrier, PPP running); services <name>.link and
;; <name>.link6, which pppd's ip-up/ip-down and ipv6-up/ipv6-down hooks
;; (ppp-hook.fnl) publish: the hooks never touch this service's own tree.
;; pppd runs its scripts with a cleared environment: a state root other than
;; the default reaches the hooks as pppd's `set UPD_ROOT=...`.
;;
;; A missing interface is not fatal: it logs one line, publishes `failed` with
;; the reason and waits for the interface to appear (hot-plugged NICs).
;; A missing pppd, pppd exiting with an option/permission/kernel-support
;; error (codes 2, 3, 4), or the kernel lacking PPPoE (kernel mode) or PPP
;; async (pty mode), gives `failed` + reason and no retry until the carrier
;; goes away and comes back.
(local upd (require :upd))
(local {: items} (require :upd.path))
(local args (require :upd.args))
(local changed (require :upd.changed))
(local process (require :upd.process))

(local permanent-exits {2 "pppd: option error (bad arguments or options file)"
                        3 "pppd: must be run as root"
                        4 "pppd: the kernel has no PPP support"})

(fn pppd-argv [s]
  (let [argv [s.pppd]
        add #(each [_ a (ipairs $1)] (table.insert argv a))]
    (if (= s.mode :pty)
        ;; rp-pppoe's own advice for pppd over its pty
        (add ["pty" (.. s.pppoe " -I " s.eth) "noaccomp" "default-asyncmap" "mtu" "1492"])
        (add ["plugin" "pppoe.so" (.. "nic-" s.eth)]))
    (add ["ifname" s.ppp "nodetach" "noipdefault" "defaultroute" "usepeerdns"
          "maxfail" "1" "lcp-echo-interval" "10" "lcp-echo-failure" "3"
          "ip-up-script" s.ip-up "ip-down-script" s.ip-down
          "ipparam" s.link-name])
    (when s.ipv6?
      (add ["+ipv6" "defaultroute6"])
      ;; pppd < 2.5 has no such options: it runs /etc/ppp/ipv6-up (an empty PATH)
      (when (not= s.ipv6-up "") (add ["ipv6-up-script" s.ipv6-up]))
      (when (not= s.ipv6-down "") (add ["ipv6-down-script" s.ipv6-down])))
    (when s.root (add ["set" (.. "UPD_ROOT=" s.root)]))
    (add s.extra)
    argv))

;; pppd's words for a kernel without what the mode needs (pppd 2.4.9/2.5):
;; no PPPoX at all, or PPPoX without PPPoE (seen in the emulated router)
(local no-pppoe "the kernel has no PPPoE support (CONFIG_PPPOE, pppoe.ko): load it, or use --mode pty (user-space rp-pppoe)")
(local kernel-lacks
       [["Failed to create PPPoE socket: Address family not supported" no-pppoe]
        ["Failed to create PPPoE socket: Protocol not supported" no-pppoe]
        ["does not support PPPoE" no-pppoe]
        ["PPP discipline"
         "the kernel has no PPP async tty support (CONFIG_PPP_ASYNC, ppp_async.ko), which --mode pty needs"]
        ["this system lacks PPP kernel support" "the kernel has no PPP support (CONFIG_PPP, /dev/ppp)"]])

(fn on-pppd-line [s line]
  (upd.log :info line)
  (each [_ [words reason] (ipairs kernel-lacks)]
    (when (line:find words 1 true) (set s.kernel-reason reason)))
  (when (and (= s.mode :pty) (line:find (.. s.pppoe ": not found") 1 true))
    (set s.kernel-reason (.. "the pppoe program (" s.pppoe ", rp-pppoe) is missing, which --mode pty needs"))))

(fn link-data [s ?tree]
  ;; the hook's data, only when it belongs to the pppd running now
  (let [tree (or ?tree s.hook-tree)]
    (when (and tree (= tree.state "up") (s.pppd:running?)
               (or (= nil tree.pppd-pid) (= (tostring s.pppd.pid) tree.pppd-pid)))
      tree)))

(fn current-state [s]
  (let [p s.pppd]
    (if s.failed-reason :failed
        (and (p:running?) p.stopping?) :stopping
        (and (p:running?) (or s.ppp-up? (link-data s))) :up
        (p:running?) :starting
        (p:backoff-pending?) :backoff
        (not s.present?) :failed
        :waiting-for-carrier)))

(fn snapshot [s]
  (let [state (current-state s)
        tree {: state :interface s.eth :ppp-interface s.ppp :mode s.mode
              :backoff (if (= state :backoff) s.last-delay 0)}]
    (when (s.pppd:running?) (set tree.pid s.pppd.pid))
    (when (= state :failed)
      (set tree.reason (or s.failed-reason (.. "no interface " s.eth))))
    (case (link-data s)
      data (do (set tree.local-address data.local-address)
               (set tree.remote-address data.remote-address)
               (set tree.since data.since)
               (when data.dns
                 (set tree.dns (items data.dns)))))
    (case (link-data s s.hook6-tree)
      data (set tree.ipv6 {:local-address data.local-address
                           :remote-address data.remote-address}))
    tree))

(fn publish! [s]
  (let [tree (snapshot s)]
    (set s.state tree.state)
    (changed.publish! s.name tree)))

(fn fail! [s reason]
  (when (not= s.failed-reason reason)
    (upd.log :err reason))
  (set s.failed-reason reason))

(fn reconcile [s]
  (let [p s.pppd]
    (if s.failed-reason nil
        (not (and s.present? s.carrier?))
        (do (when (and (p:running?) (not p.stopping?)) (p:stop))
            (when (not (p:running?)) (p:stop)) ; drops a pending backoff
            (p:aver-healthy))
        (or (p:running?) (p:backoff-pending?)) nil
        (case (p:start)
          (nil msg) (fail! s (.. "unable to start pppd: " msg)))))
  (publish! s))

(fn on-pppd-exit [s p status]
  (set s.ppp-up? false)
  (let [why (if status.code (.. "code " status.code) (.. "signal " (tostring status.signal)))
        kernel s.kernel-reason]
    (set s.kernel-reason nil)
    (if p.stopping? (upd.log :info (.. "pppd stopped (" why ")"))
        kernel (fail! s (.. kernel " (pppd exited, " why ")"))
        (. permanent-exits status.code) (fail! s (. permanent-exits status.code))
        (do (set s.last-delay (p:backoff))
            (upd.log :warn (.. "pppd exited (" why "), restarting in " s.last-delay " s")))))
  (reconcile s))

(fn on-link [s ev]
  ;; Only link events say anything about carrier; address events (eth0's
  ;; IPv6 link-local, ppp0's addresses) carry no link fields at all.
  (if (not= ev.kind :link) nil
      (= ev.ifname s.eth)
      (let [gone? (= ev.removed true)
            carrier? (and (not gone?) (or ev.carrier ev.running) true)]
        (when (and (not s.carrier?) carrier?)
          (set s.failed-reason nil)) ; a new carrier is a new chance
        (when (and (not gone?) (not ev.up) (not s.link-up-asked?))
          (set s.link-up-asked? true)
          (upd.spawn {:argv ["ip" "link" "set" s.eth "up"]}))
        (when ev.up (set s.link-up-asked? false))
        (set s.present? (not gone?))
        (set s.carrier? carrier?)
        (reconcile s))
      (= ev.ifname s.ppp)
      (let [up? (and (not ev.removed) ev.running (s.pppd:running?) true)]
        (when (and up? (not s.ppp-up?)) (s.pppd:aver-healthy))
        (set s.ppp-up? up?)
        (reconcile s))))

(fn on-hook-tree [s tree]
  (set s.hook-tree tree)
  (when (link-data s) (s.pppd:aver-healthy))
  (reconcile s))

(fn on-hook6-tree [s tree]
  (set s.hook6-tree tree)
  (reconcile s))

(fn new [eth ppp ?opts]
  (let [opts (or ?opts {})
        name (or opts.name (upd.service-name "pppoe"))
        s {: eth : ppp : name :link-name (.. name ".link")
           :pppd (or opts.pppd "pppd")
           :mode (or opts.mode :kernel) :pppoe (or opts.pppoe "pppoe")
           :ip-up (or opts.ip-up "/usr/libexec/upd/ppp-ip-up")
           :ip-down (or opts.ip-down "/usr/libexec/upd/ppp-ip-down")
           :ipv6? (or opts.ipv6 false)
           :ipv6-up (or opts.ipv6-up "/usr/libexec/upd/ppp-ipv6-up")
           :ipv6-down (or opts.ipv6-down "/usr/libexec/upd/ppp-ipv6-down")
           :root (or opts.root (case (os.getenv "UPD_ROOT") "" nil r r))
           :extra (or opts.extra [])
           :present? false :carrier? false :ppp-up? false :last-delay 0}]
    (set s.pppd (process.new (pppd-argv s)
                             {:max-backoff (or opts.max-backoff 60)
                              :on-line #(on-pppd-line s $2)
                              :on-exit #(on-pppd-exit s $1 $2)
                              :on-wake #(reconcile s)}))
    s))

(fn start! [s]
  ;; initial state from a dump, then events
  (upd.on-netlink #(on-link s $1))
  (upd.subscribe s.link-name #(on-hook-tree s $1))
  (upd.subscribe (.. s.link-name "6") #(on-hook6-tree s $1))
  (var seen? false)
  (each [_ ev (ipairs (upd.links))]
    (when (= ev.ifname s.eth) (set seen? true))
    (when (or (= ev.ifname s.eth) (= ev.ifname s.ppp)) (on-link s ev)))
  (when (not seen?)
    (upd.log :err (.. "no interface " s.eth " (waiting for it to appear)"))
    (reconcile s))
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "pppoe"
             :usage "pppoe ETH PPP [--name NAME] [--mode kernel|pty] [--pppoe PATH] [--ipv6] [--pppd PATH] [--ip-up PATH] [--ip-down PATH] [--ipv6-up PATH] [--ipv6-down PATH] [--max-backoff SECS] [-- PPPD-OPTION...]"
             :positional {:min 2 :max 2 :error "expected ETH and PPP interface names"}
             :options {:name args.text :mode (args.one-of :kernel :pty) :pppoe args.text
                       :ipv6 args.flag :pppd args.text :ip-up args.text :ip-down args.text
                       :ipv6-up args.text :ipv6-down args.text :max-backoff args.number}
             :rest :extra})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [([eth ppp] opts) (args.parse-or-exit spec argv)]
    (start! (new eth ppp opts))
    (upd.run)))


{: main : new : start! : reconcile : on-link : on-hook-tree : on-hook6-tree : pppd-argv
 : parse-args : snapshot}
