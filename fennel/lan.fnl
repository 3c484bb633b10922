;; lan: reconfigures the LAN side (dnsmasq) from the upstream services.
;;
;; Subscribes to the upstream services named on the command line (odhcp6c
;; and pppoe trees): `rdnss/N` and `dns/N` become upstream DNS servers,
;; `ra_prefixes/N` / `prefixes/N` turn on router advertisements.
;; Renders two files, each written atomically and only when its text changed:
;;   CONFIG          (dnsmasq --conf-file): enable-ra + dhcp-range=::,
;;                   constructor:LANIF,ra-only,64 while an upstream has a prefix;
;;                   a change restarts dnsmasq (it reads this only at start).
;;   CONFIG.servers  (dnsmasq --servers-file): server= lines; a change is a
;;                   SIGHUP (dnsmasq re-reads its servers file on SIGHUP).
;; Bursts of upstream changes coalesce: one render after the loop has
;; drained them (upd.after 0).
;; Publishes <name> (default "lan"): state (waiting running backoff failed),
;; reason, config, servers/N, ra (yes/no), reloads, restarts, pid.
(local upd (require :upd))
(local process (require :upd.process))

(fn seq [t]
  ;; a published list as read back ("1" "2" ... keys) -> a sequence
  (let [out []]
    (when (= (type t) :table)
      (var i 1)
      (while (or (. t i) (. t (tostring i)))
        (table.insert out (or (. t i) (. t (tostring i))))
        (set i (+ i 1))))
    out))

(fn servers [s]
  (let [seen {} out []]
    (each [_ name (ipairs s.upstreams)]
      (let [tree (. s.trees name)]
        (when tree
          (each [_ list (ipairs [(seq tree.rdnss) (seq tree.dns)])]
            (each [_ a (ipairs list)]
              (when (and (= (type a) :string) (a:match "^[%x:%.]+$") (not (. seen a)))
                (tset seen a true)
                (table.insert out a)))))))
    out))

(fn ra? [s]
  (accumulate [any false _ name (ipairs s.upstreams)]
    (let [tree (. s.trees name)]
      (or any (and tree (or (> (length (seq tree.ra_prefixes)) 0)
                            (> (length (seq tree.prefixes)) 0)))))))

(fn render [s]
  ;; -> config text, servers text
  (let [head (.. "# written by upd lan from " (table.concat s.upstreams ", ") "; do not edit\n")
        conf (if (ra? s)
                 (.. head "enable-ra\ndhcp-range=::,constructor:" s.lan-if ",ra-only,64\n")
                 head)
        srv (.. head (table.concat (icollect [_ a (ipairs (servers s))] (.. "server=" a "\n"))))]
    (values conf srv)))

(fn publish! [s]
  (let [p s.dnsmasq
        state (if s.failed-reason :failed
                  (p:running?) :running
                  (p:backoff-pending?) :backoff
                  :waiting)]
    (upd.publish s.name {: state :reason s.failed-reason :config s.config
                         :servers (servers s) :ra (ra? s)
                         :reloads s.reloads :restarts s.restarts
                         :pid (when (p:running?) p.pid)})))

(fn ensure-running! [s]
  (let [p s.dnsmasq]
    (when (and s.rendered? (not s.failed-reason) (not (p:running?)) (not (p:backoff-pending?)))
      (case (p:start)
        (nil msg) (do (set s.failed-reason (.. "unable to start dnsmasq: " msg))
                      (upd.log :err s.failed-reason))))))

(fn write! [s path text]
  (case (upd.write-file path text 420)
    true true
    (nil msg) (do (upd.log :err (.. "unable to write " path ": " msg)) false)))

(fn apply! [s]
  (set s.timer nil)
  (let [(conf srv) (render s)
        p s.dnsmasq]
    (when (and (not= conf s.conf-text) (write! s s.config conf))
      (set s.conf-text conf)
      (when (p:running?)
        (set s.restart-pending? true)
        (set s.restarts (+ s.restarts 1))
        (p:stop)))
    (when (and (not= srv s.servers-text) (write! s s.servers-file srv))
      (set s.servers-text srv)
      (when (and (p:running?) (not s.restart-pending?))
        (set s.reloads (+ s.reloads 1))
        (upd.kill p.handle :HUP)))
    (set s.rendered? (and s.conf-text s.servers-text true))
    (ensure-running! s)
    (publish! s)))

(fn schedule! [s]
  (when (not s.timer)
    (set s.timer (upd.after 0 #(apply! s)))))

(fn on-upstream [s name tree]
  (tset s.trees name tree)
  (schedule! s))

(fn on-exit [s p status]
  (if s.restart-pending? (set s.restart-pending? false)
      p.stopping? nil
      (do (set s.last-delay (p:backoff))
          (upd.log :warn (.. "dnsmasq exited, restarting in " s.last-delay " s"))))
  (ensure-running! s)
  (publish! s))

(fn new [config upstreams ?opts]
  (let [opts (or ?opts {})
        s {: config :servers-file (.. config ".servers") : upstreams
           :name (or opts.name (upd.service-name "lan"))
           :lan-if (or opts.interface "br-lan")
           :trees {} :reloads 0 :restarts 0 :last-delay 0}
        argv [(or opts.dnsmasq "dnsmasq") "--keep-in-foreground"
              (.. "--conf-file=" config) (.. "--servers-file=" s.servers-file)]]
    (each [_ a (ipairs (or opts.extra []))] (table.insert argv a))
    (set s.dnsmasq (process.new argv {:on-exit #(on-exit s $1 $2)
                                      :on-wake #(do (ensure-running! s) (publish! s))}))
    s))

(fn start! [s]
  (each [_ name (ipairs s.upstreams)]
    (upd.subscribe name #(on-upstream s name $1)))
  (schedule! s) ; render once even if no upstream exists yet
  s)

(local usage "usage: lan CONFIG UPSTREAM... [--interface LANIF] [--name NAME] [--dnsmasq PATH] [-- DNSMASQ-OPTION...]")

(fn parse-args [args]
  (let [opts {:extra []} pos []
        valued {"--interface" :interface "--name" :name "--dnsmasq" :dnsmasq}]
    (var (i rest? err) (values 1 false nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) v (. args (+ i 1))]
        (if rest? (table.insert opts.extra a)
            (= a "--") (set rest? true)
            (. valued a) (if v (do (tset opts (. valued a) v) (set i (+ i 1)))
                             (set err (.. "option " a " needs a value")))
            (a:match "^%-") (set err (.. "unknown option " a))
            (table.insert pos a)))
      (set i (+ i 1)))
    (if err (values nil err)
        (< (length pos) 2) (values nil "expected a config path and at least one upstream service")
        (values (. pos 1) [(select 2 ((or table.unpack _G.unpack) pos))] opts))))

(fn main [args]
  (case (parse-args args)
    (nil msg) (do (io.stderr:write (.. "lan: " msg "\n" usage "\n")) (os.exit 100))
    (config upstreams opts) (do (start! (new config upstreams opts)) (upd.run))))


{: main : new : start! : render : parse-args}
