;; netdev: mirrors one network interface into the state tree.
;;
;; Publishes <name> (`upd.service-name`, default the interface name): state
;; (absent: no such interface; down: administratively down; up: up without
;; carrier; running: up with carrier), carrier, operstate, promiscuous, mtu,
;; mac, addresses/N/{address,length,family} (sorted by family then address),
;; packets/{rx,tx}, bytes/{rx,tx} (every --counters SECS, default 10; 0: off).
;; Subscribes: netlink link and address events for the interface.
(local upd (require :upd))
(local args (require :upd.args))
(local changed (require :upd.changed))

(fn link-state [link]
  (if (not link) :absent
      (not link.up) :down
      (or link.running link.carrier) :running
      :up))

(fn sorted-addresses [s]
  (let [list (icollect [_ a (pairs s.addresses)] a)]
    (table.sort list (fn [a b] (if (= a.family b.family) (< a.address b.address)
                                   (< a.family b.family))))
    (icollect [_ a (ipairs list)] {:address a.address :length a.length :family a.family})))

(fn snapshot [s]
  (let [l s.link
        tree {:state (link-state l)}]
    (when l
      (set tree.carrier (and l.carrier true))
      (set tree.operstate l.operstate)
      (set tree.promiscuous (and l.promiscuous true))
      (set tree.mtu l.mtu)
      (set tree.mac l.mac)
      (set tree.addresses (sorted-addresses s))
      (when s.counters
        (set tree.packets {:rx s.counters.rx-packets :tx s.counters.tx-packets})
        (set tree.bytes {:rx s.counters.rx-bytes :tx s.counters.tx-bytes})))
    tree))

(fn publish! [s] (changed.publish! s.name (snapshot s)))

(fn address-key [ev] (.. ev.family " " ev.address "/" (tostring ev.length)))

(fn on-event [s ev]
  (when (= ev.ifname s.ifname)
    (if (= ev.kind :link)
        (if ev.removed
            (do (set s.link nil) (set s.addresses {}) (set s.counters nil))
            (set s.link ev))
        (= ev.kind :address)
        (tset s.addresses (address-key ev)
              (when (not= ev.action :remove) ev)))
    (publish! s)))

(fn poll-counters! [s]
  (set s.counters (when s.link (upd.counters s.ifname)))
  (publish! s))

(fn new [ifname ?opts]
  (let [opts (or ?opts {})]
    {: ifname :name (or opts.name (upd.service-name ifname))
     :counter-interval (if (= nil opts.counters) 10 opts.counters)
     :link nil :addresses {} :counters nil}))

(fn start! [s]
  (upd.on-netlink #(on-event s $1))
  (each [_ ev (ipairs (upd.links))]
    (when (= ev.ifname s.ifname) (set s.link ev)))
  (each [_ ev (ipairs (upd.addresses s.ifname))]
    (when (= ev.ifname s.ifname) (tset s.addresses (address-key ev) ev)))
  (when (> s.counter-interval 0)
    (set s.counters (when s.link (upd.counters s.ifname)))
    (upd.every s.counter-interval #(poll-counters! s)))
  (publish! s)
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "netdev" :usage "netdev IFNAME [--name NAME] [--counters SECS]"
             :positional {:min 1 :max 1 :error "expected one interface name"}
             :options {:name args.text :counters args.non-negative}})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [(ifname opts) (args.parse-or-exit spec argv)]
    (start! (new ifname opts))
    (upd.run)))


{: main : new : start! : on-event : snapshot : parse-args : link-state}
