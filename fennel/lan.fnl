;; lan: the LAN side of the router, from the upstream services (odhcp6c and
;; pppoe trees): the LAN interface's addresses, and dnsmasq for router
;; advertisements, DHCPv6, DHCPv4 and DNS.
;;
;; IPv6: for each delegated prefix an upstream publishes under
;; `ra_prefixes/N/{prefix,length,valid,preferred}`, the LAN interface gets
;; the address ::HOST (default 1) of /64 number --subnet (default 0) in it,
;; with the lease's lifetimes (`ip -6 addr replace ... valid_lft V
;; preferred_lft P`, again at each renewal): the kernel counts them down and
;; dnsmasq's `constructor:` builds its RA from that address, advertising the
;; lifetimes as they are (SLAAC, and stateless DHCPv6 for DNS). A prefix that goes away (withdrawn,
;; changed, the upstream says it is unbound) is removed from the interface:
;; dnsmasq, which keeps running, then advertises it as an old prefix
;; (preferred 0, valid counting down, at most 2 h) so hosts deprecate it.
;; A delegated prefix shorter than /64 also gets an unreachable route (its
;; unused subnets must not bounce back to the ISP). An upstream that vanishes
;; (its service restarting) changes nothing: the lifetimes still hold.
;; IPv4: --ipv4 ADDR/LEN is put on the LAN interface; dnsmasq's dhcp-range
;; for it is one of the DNSMASQ-OPTIONs.
;; DNS: upstream servers are `rdnss/N` and `dns/N` (in upstream order,
;; deduplicated, only address characters), written to CONFIG.servers
;; (dnsmasq --servers-file); a change is a SIGHUP (dnsmasq re-reads that
;; file on SIGHUP). CONFIG (dnsmasq --conf-file) is written once: enable-ra,
;; the constructor ranges and the lease file (CONFIG.leases) never change, so dnsmasq is never restarted
;; for a prefix change and remembers the old prefixes it must deprecate.
;; Bursts of upstream changes coalesce: one pass after the loop has drained
;; them (upd.after 0).
;; Publishes <name> (default "lan"): state (waiting running backoff failed),
;; reason, interface, config, servers/N, ra (yes while a delegated prefix is
;; on the LAN), addresses/N/{address,prefix,length,valid,preferred,delegated},
;; reloads (SIGHUPs sent), restarts (dnsmasq restarted after it exited), pid.
(local upd (require :upd))
(local {: items} (require :upd.path))
(local args (require :upd.args))
(local process (require :upd.process))
(local ipv6 (require :ipv6))

(fn servers [s]
  (let [seen {} out []]
    (each [_ name (ipairs s.upstreams)]
      (let [tree (. s.trees name)]
        (when tree
          (each [_ list (ipairs [(items tree.rdnss) (items tree.dns)])]
            (each [_ a (ipairs list)]
              (when (and (= (type a) :string) (a:match "^[%x:%.]+$") (not (. seen a)))
                (tset seen a true)
                (table.insert out a)))))))
    out))

(fn lifetime [text]
  (let [n (tonumber text)]
    (when (and n (text:match "^%d+$")) n)))

(fn wanted-addresses [s]
  ;; -> sequence of {address prefix valid preferred delegated}, and the
  ;; errors (prefixes that give no LAN subnet)
  (let [seen {} out [] errors []]
    (each [_ name (ipairs s.upstreams)]
      (let [tree (. s.known name)]
        (each [_ p (ipairs (items (?. tree :ra_prefixes)))]
          (let [len (tonumber p.length)
                valid (lifetime (tostring p.valid))
                preferred (lifetime (tostring p.preferred))]
            (when (and len valid preferred (> valid 0))
              (case (ipv6.subnet-address p.prefix len s.subnet s.host)
                (address net) (when (and (not (. seen address))
                                         (not= p.excluded (.. net "/64")))
                                (tset seen address true)
                                (table.insert out {: address :prefix net : valid : preferred
                                                   :delegated (.. p.prefix "/" len)}))
                (nil msg) (table.insert errors (.. name ": " msg))))))))
    (values out errors)))

(fn render [s]
  ;; -> config text, servers text
  (let [head (.. "# written by upd lan from " (table.concat s.upstreams ", ") "; do not edit\n")
        conf (.. head "enable-ra\n"
                 ;; stateless: dnsmasq's DHCPv6 leases would get its lease time
                 ;; (1 day), not the prefix's lifetimes (measured, dnsmasq 2.90)
                 "dhcp-range=::,constructor:" s.lan-if ",ra-stateless,64\n"
                 ;; beside CONFIG: dnsmasq's default directory may not exist
                 "dhcp-leasefile=" s.config ".leases\n")
        srv (.. head (table.concat (icollect [_ a (ipairs (servers s))] (.. "server=" a "\n"))))]
    (values conf srv)))

(fn publish! [s]
  (let [p s.dnsmasq
        state (if s.failed-reason :failed
                  (p:running?) :running
                  (p:backoff-pending?) :backoff
                  :waiting)
        addresses (icollect [_ a (pairs s.applied)] a)]
    (table.sort addresses #(< $1.address $2.address))
    (upd.publish s.name {: state :reason (or s.failed-reason s.ip-error) :interface s.lan-if
                         :config s.config :servers (servers s) :ra (> (length addresses) 0)
                         :addresses (icollect [_ a (ipairs addresses)]
                                      {:address a.address :prefix a.prefix :length 64
                                       :valid a.valid :preferred a.preferred
                                       :delegated a.delegated})
                         :reloads s.reloads :restarts s.restarts
                         :pid (when (p:running?) p.pid)})))

(fn ensure-running! [s]
  (let [p s.dnsmasq]
    (when (and s.servers-text s.lan-ready? (not s.failed-reason) (not (p:running?))
               (not (p:backoff-pending?)))
      (case (p:start)
        (nil msg) (do (set s.failed-reason (.. "unable to start dnsmasq: " msg))
                      (upd.log :err s.failed-reason))))))

;; `ip` commands run one at a time, in order

(var run-ip! nil)

(fn ip! [s argv] (table.insert s.queue argv) (run-ip! s))

(set run-ip!
     (fn [s]
       (if s.ip-busy? nil
           (= 0 (length s.queue))
           (when (not s.lan-ready?)
             (set s.lan-ready? true)
             (ensure-running! s)
             (publish! s))
           (let [argv (table.remove s.queue 1)
                 done (fn [why]
                        (set s.ip-busy? false)
                        (when why
                          (set s.ip-error (.. (table.concat argv " ") ": " why))
                          (upd.log :err s.ip-error)
                          (publish! s))
                        (run-ip! s))]
             (set s.ip-busy? true)
             (tset argv 1 s.ip)
             (case (upd.spawn {:argv argv
                               :on-exit #(done (when (not= $1.code 0)
                                                 (.. "failed (" (if $1.code (.. "code " $1.code)
                                                                    (.. "signal " (tostring $1.signal))) ")")))})
               (nil msg) (done msg))))))

(fn lft [n] (if (>= n 4294967295) "forever" (tostring n)))

(fn apply-addresses! [s]
  (let [(wanted errors) (wanted-addresses s)
        keep {} routes {}]
    (each [_ e (ipairs errors)]
      (when (not (. s.logged e)) (tset s.logged e true) (upd.log :err e)))
    (each [_ w (ipairs wanted)]
      (tset keep w.address true)
      (tset routes w.delegated true)
      (let [old (. s.applied w.address)]
        (when (not (and old (= old.valid w.valid) (= old.preferred w.preferred)))
          (tset s.applied w.address w)
          (ip! s ["ip" "-6" "addr" "replace" (.. w.address "/64") "dev" s.lan-if
                  "valid_lft" (lft w.valid) "preferred_lft" (lft w.preferred)]))))
    (each [address a (pairs s.applied)]
      (when (not (. keep address))
        (tset s.applied address nil)
        (upd.log :info (.. "prefix " a.prefix "/64 gone from " s.lan-if
                           ": removed; dnsmasq advertises it deprecated"))
        (ip! s ["ip" "-6" "addr" "del" (.. address "/64") "dev" s.lan-if])))
    (each [d (pairs routes)]
      (when (and (not (. s.routes d)) (< (tonumber (d:match "/(%d+)$")) 64))
        (tset s.routes d true)
        (ip! s ["ip" "-6" "route" "replace" "unreachable" d])))
    (each [d (pairs s.routes)]
      (when (not (. routes d))
        (tset s.routes d nil)
        (ip! s ["ip" "-6" "route" "del" "unreachable" d])))))

(fn write! [s path text]
  (case (upd.write-file path text 420)
    true true
    (nil msg) (do (upd.log :err (.. "unable to write " path ": " msg)) false)))

(fn apply! [s]
  (set s.timer nil)
  (let [(conf srv) (render s)
        p s.dnsmasq]
    (when (and (not= conf s.conf-text) (write! s s.config conf))
      (set s.conf-text conf))
    (when (and (not= srv s.servers-text) s.conf-text (write! s s.servers-file srv))
      (set s.servers-text srv)
      (when (p:running?)
        (set s.reloads (+ s.reloads 1))
        (upd.kill p.handle :HUP)))
    (when s.lan-present? (apply-addresses! s))
    (ensure-running! s)
    (publish! s)
    (when (not s.ready?) ; after the first publish (docs/services.md, "Readiness")
      (set s.ready? true)
      (upd.ready))))

(fn schedule! [s]
  (when (not s.timer)
    (set s.timer (upd.after 0 #(apply! s)))))

(fn on-upstream [s name tree]
  (tset s.trees name tree)
  ;; a vanished upstream (restarting) keeps its prefixes: their lifetimes hold
  (when tree (tset s.known name tree))
  (schedule! s))

(fn setup-interface! [s]
  (ip! s ["ip" "link" "set" s.lan-if "up"])
  (when s.ipv4 (ip! s ["ip" "addr" "replace" s.ipv4 "dev" s.lan-if])))

(fn on-link [s ev]
  (when (and (= ev.kind :link) (= ev.ifname s.lan-if))
    (let [present? (not ev.removed)]
      (when (not= present? s.lan-present?)
        (set s.lan-present? present?)
        (set s.applied {}) ; a new interface has none of our addresses
        (set s.routes {})
        (when present? (setup-interface! s))
        (schedule! s)))))

(fn on-exit [s p status]
  (when (not p.stopping?)
    (set s.last-delay (p:backoff))
    (set s.restarts (+ s.restarts 1))
    (upd.log :warn (.. "dnsmasq exited, restarting in " s.last-delay " s")))
  (ensure-running! s)
  (publish! s))

(fn new [config upstreams ?opts]
  (let [opts (or ?opts {})
        s {: config :servers-file (.. config ".servers") : upstreams
           :name (or opts.name (upd.service-name "lan"))
           :lan-if (or opts.interface "br-lan")
           :subnet (or opts.subnet 0) :host (or opts.host 1) :ipv4 opts.ipv4
           :ip (or opts.ip "ip")
           :trees {} :known {} :applied {} :routes {} :logged {} :queue []
           :lan-present? false :lan-ready? false
           :reloads 0 :restarts 0 :last-delay 0}
        argv [(or opts.dnsmasq "dnsmasq") "--keep-in-foreground"
              (.. "--conf-file=" config) (.. "--servers-file=" s.servers-file)]]
    (each [_ a (ipairs (or opts.extra []))] (table.insert argv a))
    (set s.dnsmasq (process.new argv {:on-exit #(on-exit s $1 $2)
                                      :on-wake #(do (ensure-running! s) (publish! s))}))
    s))

(fn start! [s]
  (upd.on-netlink #(on-link s $1))
  (each [_ ev (ipairs (upd.links))]
    (when (= ev.ifname s.lan-if) (on-link s ev)))
  (when (not s.lan-present?)
    (upd.log :warn (.. "no interface " s.lan-if " (waiting for it to appear)")))
  (each [_ name (ipairs s.upstreams)]
    (upd.subscribe name #(on-upstream s name $1)))
  (schedule! s) ; render once even if no upstream exists yet
  s)

(fn below [limit] (args.kind "a number" #(case (tonumber $) (where n ($:match "^%d+$") (< n limit)) n)))

(local spec {:name "lan"
             :usage "lan CONFIG UPSTREAM... [--interface LANIF] [--subnet N] [--host N] [--ipv4 ADDR/LEN] [--name NAME] [--dnsmasq PATH] [--ip PATH] [-- DNSMASQ-OPTION...]"
             :positional {:min 2 :error "expected a config path and at least one upstream service"}
             :options {:interface args.text :name args.text :dnsmasq args.text :ip args.text
                       :subnet (below 4294967296) :host (below 65536)
                       :ipv4 (args.matching "^%d+%.%d+%.%d+%.%d+/%d+$" "ADDRESS/LENGTH")}
             :rest :extra})

(fn split [pos opts] (values (. pos 1) [(select 2 ((or table.unpack _G.unpack) pos))] opts))

(fn parse-args [argv]
  (case (args.parse spec argv)
    (nil msg) (values nil msg)
    (pos opts) (split pos opts)))

(fn main [argv]
  (let [(config upstreams opts) (split (args.parse-or-exit spec argv))]
    (start! (new config upstreams opts))
    (upd.run)))


{: main : new : start! : render : parse-args}
