;; pppoe: keeps one pppd (kernel PPPoE plugin) running over ETH while ETH has
;; carrier; restarts it with exponential backoff, reset once the link is up.
;;
;; Publishes <name> (`upd.service-name`, default "pppoe"): state
;; (waiting-for-carrier starting up backoff stopping failed), reason,
;; interface, ppp-interface, backoff (seconds of the pending wait, else 0),
;; pid, and while up the ip-up data: local-address, remote-address, dns/N,
;; since.
;; Subscribes: netlink (ETH carrier, PPP running); service <name>.link, which
;; pppd's ip-up/ip-down hook (ppp-hook.fnl) publishes: the hook never touches
;; this service's own tree.
;;
;; A missing interface is not fatal: it logs one line, publishes `failed` with
;; the reason and waits for the interface to appear (hot-plugged NICs).
;; A missing pppd, or pppd exiting with an option/permission/kernel-support
;; error (codes 2, 3, 4), gives `failed` + reason and no retry until the
;; carrier goes away and comes back.
(local upd (require :upd))
(local process (require :upd.process))

(local permanent-exits {2 "pppd: option error (bad arguments or options file)"
                        3 "pppd: must be run as root"
                        4 "pppd: the kernel has no PPP support"})

(fn pppd-argv [s]
  (let [argv [s.pppd "plugin" "pppoe.so" (.. "nic-" s.eth) "ifname" s.ppp
              "nodetach" "noipdefault" "defaultroute" "usepeerdns"
              "maxfail" "1" "lcp-echo-interval" "10" "lcp-echo-failure" "3"
              "ip-up-script" s.ip-up "ip-down-script" s.ip-down
              "ipparam" s.link-name]]
    (each [_ extra (ipairs s.extra)] (table.insert argv extra))
    argv))

(fn seq [t]
  ;; a published list as read back ("1" "2" ... keys) -> a sequence
  (let [out []]
    (when (= (type t) :table)
      (var i 1)
      (while (or (. t i) (. t (tostring i)))
        (table.insert out (or (. t i) (. t (tostring i))))
        (set i (+ i 1))))
    out))

(fn link-data [s]
  ;; the hook's data, only when it belongs to the pppd running now
  (let [tree s.hook-tree]
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
        tree {: state :interface s.eth :ppp-interface s.ppp
              :backoff (if (= state :backoff) s.last-delay 0)}]
    (when (s.pppd:running?) (set tree.pid s.pppd.pid))
    (when (= state :failed)
      (set tree.reason (or s.failed-reason (.. "no interface " s.eth))))
    (case (link-data s)
      data (do (set tree.local-address data.local-address)
               (set tree.remote-address data.remote-address)
               (set tree.since data.since)
               (when data.dns
                 (set tree.dns (seq data.dns)))))
    tree))

(fn flat [tree ?prefix ?out]
  ;; a canonical text of a tree, to publish only when something changed
  (let [out (or ?out [])]
    (each [k v (pairs tree)]
      (let [key (.. (or ?prefix "") (tostring k))]
        (if (= (type v) :table) (flat v (.. key "/") out)
            (table.insert out (.. key "=" (tostring v))))))
    (when (= nil ?prefix) (table.sort out))
    out))

(fn publish! [s]
  (let [tree (snapshot s)
        text (table.concat (flat tree) "\n")]
    (when (not= text s.published-text)
      (set s.published-text text)
      (set s.state tree.state)
      (case (upd.publish s.name tree)
        (nil msg) (upd.log :err (.. "unable to publish " s.name ": " msg))))))

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
  (let [why (if status.code (.. "code " status.code) (.. "signal " (tostring status.signal)))]
    (if p.stopping? (upd.log :info (.. "pppd stopped (" why ")"))
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

(fn new [eth ppp ?opts]
  (let [opts (or ?opts {})
        name (or opts.name (upd.service-name "pppoe"))
        s {: eth : ppp : name :link-name (.. name ".link")
           :pppd (or opts.pppd "pppd")
           :ip-up (or opts.ip-up "/usr/libexec/upd/ppp-ip-up")
           :ip-down (or opts.ip-down "/usr/libexec/upd/ppp-ip-down")
           :extra (or opts.extra [])
           :present? false :carrier? false :ppp-up? false :last-delay 0}]
    (set s.pppd (process.new (pppd-argv s)
                             {:max-backoff (or opts.max-backoff 60)
                              :on-exit #(on-pppd-exit s $1 $2)
                              :on-wake #(reconcile s)}))
    s))

(fn start! [s]
  ;; initial state from a dump, then events
  (upd.on-netlink #(on-link s $1))
  (upd.subscribe s.link-name #(on-hook-tree s $1))
  (var seen? false)
  (each [_ ev (ipairs (upd.links))]
    (when (= ev.ifname s.eth) (set seen? true))
    (when (or (= ev.ifname s.eth) (= ev.ifname s.ppp)) (on-link s ev)))
  (when (not seen?)
    (upd.log :err (.. "no interface " s.eth " (waiting for it to appear)"))
    (reconcile s))
  s)

(local usage "usage: pppoe ETH PPP [--name NAME] [--pppd PATH] [--ip-up PATH] [--ip-down PATH] [--max-backoff SECS] [-- PPPD-OPTION...]")

(fn parse-args [args]
  (let [opts {:extra []} pos []]
    (var i 1)
    (var rest? false)
    (var err nil)
    (while (and (<= i (length args)) (not err))
      (let [a (. args i)]
        (if rest? (table.insert opts.extra a)
            (= a "--") (set rest? true)
            (a:match "^%-%-")
            (let [key (a:sub 3)
                  v (. args (+ i 1))]
              (if (not (. {:name 1 :pppd 1 :ip-up 1 :ip-down 1 :max-backoff 1} key))
                  (set err (.. "unknown option " a))
                  (= nil v) (set err (.. "option " a " needs a value"))
                  (do (tset opts key (if (= key :max-backoff) (tonumber v) v))
                      (set i (+ i 1)))))
            (table.insert pos a)))
      (set i (+ i 1)))
    (if err (values nil err)
        (not= 2 (length pos)) (values nil "expected ETH and PPP interface names")
        (values pos opts))))

(fn main [args]
  (case (parse-args args)
    (nil msg) (do (io.stderr:write (.. "pppoe: " msg "\n" usage "\n")) (os.exit 100))
    ([eth ppp] opts) (do (start! (new eth ppp opts))
                         (upd.run))))


{: main : new : start! : reconcile : on-link : on-hook-tree : pppd-argv
 : parse-args : snapshot}
