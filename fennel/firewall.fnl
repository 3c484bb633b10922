;; firewall: applies the blocklist service's address set to the packet
;; filter whenever the set changes.
;;
;; Subscribes: the blocklist service named on the command line (its
;; addresses/N, one address a line; each is re-validated with blocklist's
;; parser, entries that would cut the router off are dropped again and
;; overlapping ones merged, so nothing else reaches the ruleset and nft
;; always takes the set).
;; Backends (--backend); both first let loopback and established/related
;; traffic through, so no list can lock the router out:
;;   nft (default): one `nft -f FILE` transaction that replaces table
;;     `inet upd` (sets blocklist4/blocklist6, drop rules in input and
;;     forward hooks at priority -10), so the kernel never sees half a list.
;;   iptables: `iptables-restore --noflush` / `ip6tables-restore --noflush`
;;     refill chain `upd-blocklist` of table filter; jumping to it from
;;     INPUT/FORWARD is left to the base ruleset.
;; The rules files are written in --work DIR (default upd-<name> beside the
;; state root: /run/upd-firewall), made 0700; a DIR that is a symlink, not
;; ours or writable by others is refused (state failed), never used.
;; Applies only when the rendered rules changed; a failed apply is retried
;; with backoff (1 s doubling to 60 s), and the latest set wins if changes
;; arrive during an apply or while a retry waits.
;; Publishes <name> (default "firewall"): state (waiting applying applied
;; failed), reason, backend, count, applies.
(local upd (require :upd))
(local {: items} (require :upd.path))
(local args (require :upd.args))
(local policy (require :upd.policy))
(local blocklist (require :blocklist))

(fn entries [tree]
  ;; the published text back to entries, checked again: -> entries, number dropped
  (let [out [] protected (blocklist.protected)]
    (var dropped 0)
    (each [_ chunk (ipairs (items tree.addresses))]
      (each [line (string.gmatch (tostring chunk) "[^\n]+")]
        (case (blocklist.parse-address line)
          (where e (not (blocklist.cuts-off e protected))) (table.insert out e)
          _ (set dropped (+ dropped 1)))))
    (values (blocklist.merge out) dropped)))

(fn split [entries]
  ;; -> ipv4 texts, ipv6 texts
  (let [v4 [] v6 []]
    (each [_ e (ipairs entries)]
      (table.insert (if (= (e:sub 1 1) "4") v4 v6) (blocklist.entry->text e)))
    (values v4 v6)))

(fn render-nft [v4 v6]
  (let [set-def (fn [name kind list]
                  (.. "  set " name " {\n    type " kind "; flags interval;\n"
                      (if (> (length list) 0) (.. "    elements = { " (table.concat list ",\n      ") " }\n") "")
                      "  }\n"))
        chain (fn [name]
                (.. "  chain " name " {\n    type filter hook " name " priority -10; policy accept;\n"
                    "    iif lo accept\n    ct state established,related accept\n"
                    "    ip saddr @blocklist4 drop\n    ip6 saddr @blocklist6 drop\n  }\n"))]
    (.. "table inet upd\ndelete table inet upd\ntable inet upd {\n"
        (set-def "blocklist4" "ipv4_addr" v4) (set-def "blocklist6" "ipv6_addr" v6)
        (chain "input") (chain "forward") "}\n")))

(fn render-iptables [list]
  (.. "*filter\n:upd-blocklist - [0:0]\n-F upd-blocklist\n"
      "-A upd-blocklist -i lo -j RETURN\n"
      "-A upd-blocklist -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n"
      (table.concat (icollect [_ a (ipairs list)] (.. "-A upd-blocklist -s " a " -j DROP\n")))
      "COMMIT\n"))

(fn render [backend v4 v6]
  ;; -> sequence of {:file name :text :cmd argv-fn}
  (if (= backend :nft)
      [{:file "rules.nft" :text (render-nft v4 v6) :cmd #["nft" "-f" $1]}]
      [{:file "rules.v4" :text (render-iptables v4) :cmd #["iptables-restore" "--noflush" $1]}
       {:file "rules.v6" :text (render-iptables v6) :cmd #["ip6tables-restore" "--noflush" $1]}]))

(fn publish! [s]
  (case (upd.publish s.name {:state s.state :reason s.reason :backend s.backend
                             :count s.count :applies s.applies})
    (nil msg) (upd.log :err (.. "unable to publish: " msg))))

(var apply! nil)

(fn failed! [s msg]
  (set s.state :failed)
  (set s.reason msg)
  (upd.log :err msg)
  ;; one retry pending at most: changes meanwhile wait for it
  (set s.retry-timer (upd.after (policy.on-exit s.retry (upd.now))
                                #(do (set s.retry-timer nil) (apply! s))))
  (publish! s))

(fn run-steps! [s steps i text]
  (if (> i (length steps))
      (do (set s.applying? false)
          (set s.applied-text text)
          (set s.applies (+ s.applies 1))
          (set s.state :applied)
          (set s.reason nil)
          (policy.on-healthy s.retry)
          (publish! s)
          (apply! s)) ; a newer set may have arrived meanwhile
      (let [step (. steps i)
            file (.. s.work "/" step.file)
            argv (step.cmd file)]
        (case (upd.write-file file step.text 384)
          (nil msg) (do (set s.applying? false) (failed! s (.. "unable to write " file ": " msg)))
          true (case (upd.spawn {:argv argv
                                 :on-exit (fn [st]
                                            (if (= st.code 0) (run-steps! s steps (+ i 1) text)
                                                (do (set s.applying? false)
                                                    (failed! s (.. (table.concat argv " ") " failed (code "
                                                                   (tostring st.code) ")")))))})
                 (nil msg) (do (set s.applying? false)
                               (failed! s (.. "unable to run " (. argv 1) ": " msg))))))))

(set apply!
     (fn [s]
       (when (and s.tree (not s.applying?) (not s.retry-timer))
         (let [(list dropped) (entries s.tree)
               (v4 v6) (split list)
               steps (render s.backend v4 v6)
               text (table.concat (icollect [_ st (ipairs steps)] st.text))]
           (when (> dropped 0) (upd.log :warn (.. "dropped " dropped " invalid or cutting-off addresses")))
           (set s.count (length list))
           (when (not= text s.applied-text)
             (set s.state :applying)
             (policy.on-start s.retry (upd.now))
             (publish! s)
             ;; made 0700 and checked ours each time: nobody else writes in it
             (case (upd.private-dir s.work)
               (nil msg) (failed! s (.. "refusing the work directory " s.work ": " msg))
               _ (do (set s.applying? true) (run-steps! s steps 1 text))))))))

(fn on-blocklist [s tree]
  ;; a vanished blocklist keeps the applied set: absence is not an empty list
  (when tree
    (set s.tree tree)
    (apply! s)))

(fn default-work [name]
  ;; upd-<name> beside the state root (/run/upd -> /run/upd-firewall), not in /tmp
  (.. (or (-> (upd.root) (string.gsub "/+$" "") (string.match "^(.*)/[^/]*$")) ".") "/upd-" name))

(fn new [service ?opts]
  (let [opts (or ?opts {})
        name (or opts.name (upd.service-name "firewall"))]
    (when (and opts.backend (not (. {:nft true :iptables true} opts.backend)))
      (error (.. "firewall: --backend must be nft or iptables, not " opts.backend)))
    {: service : name
     :backend (or opts.backend :nft)
     :work (or opts.work (default-work name))
     :state :waiting :count 0 :applies 0
     :retry (policy.new {:initial 1 :max 60 :healthy-after false})}))

(fn start! [s]
  (collectgarbage "setpause" 100) ; as blocklist: a list's garbage goes as it is made
  (upd.subscribe s.service #(on-blocklist s $1))
  (publish! s)
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "firewall"
             :usage "firewall BLOCKLIST-SERVICE [--backend nft|iptables] [--work DIR] [--name NAME]"
             :positional {:min 1 :max 1 :error "expected the name of one blocklist service"}
             :options {:backend (args.one-of :nft :iptables) :work args.text :name args.text}})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [(service opts) (args.parse-or-exit spec argv)]
    (start! (new service opts))
    (upd.run)))


{: main : new : start! : render-nft : render-iptables : parse-args}
