;; odhcp6c: supervises `odhcp6c -s SCRIPT [OPTIONS] IFACE` and is that
;; state script.
;;
;; Supervisor mode (`odhcp6c IFACE [--name N] [--odhcp6c PATH] [--script PATH]
;; [-- ODHCP6C-OPTION...]`) publishes <name> (`upd.service-name`, default
;; "odhcp6c-IFACE"): interface, pid, state (the odhcp6c state: started bound
;; informed updated rebound ra-updated unbound stopped; or ours: starting
;; backoff failed), reason, backoff, and the script's data merged in.
;; It subscribes to <name>.dhcp, which the script publishes.
;;
;; Script mode: odhcp6c runs SCRIPT IFACE STATE; SCRIPT is a wrapper the
;; packaging installs (`exec upscript -m odhcp6c "$@"`); the supervisor passes
;; env UPD_ODHCP6C_SERVICE=<name>.dhcp, which selects script mode. It
;; publishes <name>.dhcp from odhcp6c's environment: state, addresses/N,
;; ra_addresses/N/{address,length,preferred,valid}, prefixes/N/{prefix,length,
;; preferred,valid[,class,excluded]} (delegated), ra_prefixes/N/{prefix,length,
;; preferred,valid} (on-link prefixes of the SLAAC addresses), rdnss/N (RDNSS
;; and RA_DNS), domains/N (DOMAINS and RA_DOMAINS), routes/N/{destination,
;; length,gateway,valid,metric}, server/N. Each call publishes the whole tree,
;; so a withdrawn prefix's keys disappear. Unreadable entries are skipped and
;; logged, never the whole update.
(local upd (require :upd))
(local process (require :upd.process))

(local teardown-states {:started true :unbound true :stopped true})

;; IPv6 text <-> 8 groups, to turn a SLAAC address into its prefix
(fn hex-groups [text]
  ;; "a:b:c" -> [10 11 12]; "" -> []; nil on a bad group
  (if (= text "") []
      (let [out []]
        (var ok? true)
        (each [g (string.gmatch (.. text ":") "([^:]*):")]
          (if (g:match "^%x%x?%x?%x?$") (table.insert out (tonumber g 16)) (set ok? false)))
        (when ok? out))))

(fn ipv6->groups [text]
  (when (and (= (type text) :string) (text:match "^[%x:]+$"))
    (case (text:find "::" 1 true)
      nil (case (hex-groups text) (where g (= 8 (length g))) g)
      at (let [head (text:sub 1 (- at 1))
               tail (text:sub (+ at 2))]
           (case [(hex-groups head) (hex-groups tail)]
             (where [h t] (< (+ (length h) (length t)) 8))
             (let [g h]
               (for [_ 1 (- 8 (length h) (length t))] (table.insert g 0))
               (each [_ x (ipairs t)] (table.insert g x))
               g))))))

(fn groups->ipv6 [g]
  ;; RFC 5952: the longest run of two or more zero groups becomes ::
  (var (best-at best-len run-at run-len) (values nil 0 nil 0))
  (for [i 1 8]
    (if (= 0 (. g i))
        (do (when (= run-len 0) (set run-at i))
            (set run-len (+ run-len 1))
            (when (> run-len best-len) (set (best-at best-len) (values run-at run-len))))
        (set run-len 0)))
  (let [hex (fn [from to] (table.concat (fcollect [i from to] (string.format "%x" (. g i))) ":"))]
    (if (< best-len 2) (hex 1 8)
        (.. (hex 1 (- best-at 1)) "::" (hex (+ best-at best-len) 8)))))

(fn ipv6-prefix [address len]
  (case (ipv6->groups address)
    g (let [out (fcollect [i 1 8]
                  (let [keep (math.max 0 (math.min 16 (- len (* 16 (- i 1)))))
                        unit (^ 2 (- 16 keep))]
                    (* unit (math.floor (/ (. g i) unit)))))]
        (groups->ipv6 out))))

(fn split-list [value]
  (icollect [w (string.gmatch (or value "") "%S+")] w))

(fn fields [entry]
  (icollect [f (string.gmatch (.. entry ",") "([^,]*),")] f))

(fn parse-address [entry]
  ;; addr/len,preferred,valid[,t1,t2]
  (let [f (fields entry)
        (address len) (string.match (or (. f 1) "") "^([%x:]+)/(%d+)$")
        preferred (tonumber (. f 2))
        valid (tonumber (. f 3))]
    (if (not (and address (ipv6->groups address))) (values nil "bad address/length")
        (> (tonumber len) 128) (values nil "prefix length over 128")
        (not (and preferred valid)) (values nil "missing preferred or valid lifetime")
        {: address :length (tonumber len) : preferred : valid})))

(fn parse-prefix [entry]
  ;; prefix/len,preferred,valid[,t1,t2][,class=HEX][,excluded=PREFIX/LEN]
  (case (parse-address entry)
    a (let [p {:prefix a.address :length a.length :preferred a.preferred :valid a.valid}]
        (var err nil)
        (each [i f (ipairs (fields entry))]
          (when (> i 3)
            (case (f:match "^(%w+)=(.*)$")
              ("class" v) (if (v:match "^%x+$") (set p.class v) (set err "bad class"))
              ("excluded" v) (if (v:match "^[%x:]+/%d+$") (set p.excluded v) (set err "bad excluded"))
              _ (when (not (f:match "^%d*$")) (set err (.. "unknown field " f))))))
        (if err (values nil err) p))
    (nil msg) (values nil msg)))

(fn parse-route [entry]
  ;; dest/len,gateway,valid,metric (gateway may be empty)
  (let [f (fields entry)
        (dest len) (string.match (or (. f 1) "") "^([%x:]+)/(%d+)$")
        gateway (. f 2)
        valid (tonumber (. f 3))
        metric (tonumber (. f 4))]
    (if (not (and dest (ipv6->groups dest))) (values nil "bad destination/length")
        (and gateway (not= gateway "") (not (ipv6->groups gateway))) (values nil "bad gateway")
        (not (and valid metric)) (values nil "missing valid lifetime or metric")
        {:destination dest :length (tonumber len)
         :gateway (if (= gateway "") nil gateway) : valid : metric})))

(fn parse-plain-address [entry]
  (if (ipv6->groups entry) entry (values nil "bad address")))

(fn parse-domain [entry]
  (if (entry:match "^[%w%.%-_]+$") entry (values nil "bad domain")))

(fn parse-list [env name parse log]
  (let [out []]
    (each [_ entry (ipairs (split-list (env name)))]
      (case (parse entry)
        v (table.insert out v)
        (nil msg) (log (.. "skipping " name " entry '" entry "': " msg))))
    out))

(fn union [...]
  (let [seen {} out []]
    (each [_ list (ipairs [...])]
      (each [_ v (ipairs list)]
        (when (not (. seen v)) (tset seen v true) (table.insert out v))))
    out))

(fn ra-prefixes [ra-addresses]
  (let [seen {} out []]
    (each [_ a (ipairs ra-addresses)]
      (let [p (ipv6-prefix a.address a.length)
            key (.. p "/" a.length)]
        (when (and p (not (. seen key)))
          (tset seen key true)
          (table.insert out {:prefix p :length a.length :preferred a.preferred :valid a.valid}))))
    out))

(fn env->tree [state env log]
  ;; env: function like os.getenv; log: (fn [msg])
  (if (. teardown-states state)
      {: state}
      (let [ra-addresses (parse-list env :RA_ADDRESSES parse-address log)]
        {: state
         :addresses (parse-list env :ADDRESSES parse-address log)
         :ra_addresses ra-addresses
         :prefixes (parse-list env :PREFIXES parse-prefix log)
         :ra_prefixes (ra-prefixes ra-addresses)
         :routes (parse-list env :RA_ROUTES parse-route log)
         :rdnss (union (parse-list env :RDNSS parse-plain-address log)
                       (parse-list env :RA_DNS parse-plain-address log))
         :domains (union (parse-list env :DOMAINS parse-domain log)
                         (parse-list env :RA_DOMAINS parse-domain log))
         :server (parse-list env :SERVER parse-plain-address log)})))

(fn script-main [service args]
  (let [[iface state] args]
    (if (not (and iface state))
        (do (io.stderr:write "odhcp6c: script mode expects IFACE STATE arguments\n") (os.exit 100))
        (let [tree (env->tree state os.getenv #(upd.log :warn $1))]
          (set tree.interface iface)
          (case (upd.publish service tree)
            (nil msg) (do (io.stderr:write (.. "odhcp6c: unable to publish " service ": " msg "\n"))
                          (os.exit 111)))))))

;; supervisor mode

(fn snapshot [s]
  (let [p s.daemon
        dhcp (when (p:running?) s.dhcp)
        tree {}]
    (each [k v (pairs (or dhcp {}))] (tset tree k v))
    (set tree.interface s.iface)
    (set tree.state (if s.failed-reason :failed
                        (and (p:running?) dhcp dhcp.state) dhcp.state
                        (p:running?) :starting
                        (p:backoff-pending?) :backoff
                        :stopped))
    (set tree.backoff (if (= tree.state :backoff) s.last-delay 0))
    (when s.failed-reason (set tree.reason s.failed-reason))
    (when (p:running?) (set tree.pid p.pid))
    tree))

(fn publish! [s]
  (case (upd.publish s.name (snapshot s))
    (nil msg) (upd.log :err (.. "unable to publish " s.name ": " msg))))

(fn reconcile [s]
  (let [p s.daemon]
    (when (not (or s.failed-reason (p:running?) (p:backoff-pending?)))
      (upd.withdraw s.dhcp-name) ; data of a previous instance is stale
      (set s.dhcp nil)
      (case (p:start)
        (nil msg) (do (set s.failed-reason (.. "unable to start odhcp6c: " msg))
                      (upd.log :err s.failed-reason)))))
  (publish! s))

(fn on-exit [s p status]
  (if p.stopping? nil
      (= status.code 127) (set s.failed-reason "odhcp6c could not be executed")
      (do (set s.last-delay (p:backoff))
          (upd.log :warn (.. "odhcp6c exited (" (if status.code (.. "code " status.code)
                                                    (.. "signal " (tostring status.signal)))
                             "), restarting in " s.last-delay " s"))))
  (reconcile s))

(fn on-dhcp [s tree]
  (set s.dhcp tree)
  (when (and tree (. {:bound true :informed true :updated true :rebound true :ra-updated true} tree.state))
    (s.daemon:aver-healthy))
  (publish! s))

(fn new [iface ?opts]
  (let [opts (or ?opts {})
        name (or opts.name (upd.service-name (.. "odhcp6c-" iface)))
        s {: iface : name :dhcp-name (.. name ".dhcp") :last-delay 0}
        argv [(or opts.odhcp6c "odhcp6c") "-s" (or opts.script "/usr/libexec/upd/odhcp6c-script")]]
    (each [_ o (ipairs (or opts.extra []))] (table.insert argv o))
    (table.insert argv iface)
    (set s.daemon (process.new argv {:env {:UPD_ODHCP6C_SERVICE s.dhcp-name}
                                     :on-exit #(on-exit s $1 $2)
                                     :on-wake #(reconcile s)}))
    s))

(fn start! [s]
  (upd.subscribe s.dhcp-name #(on-dhcp s $1))
  (reconcile s)
  s)

(local usage "usage: odhcp6c IFACE [--name NAME] [--odhcp6c PATH] [--script PATH] [-- ODHCP6C-OPTION...]")

(fn parse-args [args]
  (let [opts {:extra []} pos []]
    (var (i rest? err) (values 1 false nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) v (. args (+ i 1))]
        (if rest? (table.insert opts.extra a)
            (= a "--") (set rest? true)
            (. {"--name" :name "--odhcp6c" :odhcp6c "--script" :script} a)
            (if v (do (tset opts (. {"--name" :name "--odhcp6c" :odhcp6c "--script" :script} a) v)
                      (set i (+ i 1)))
                (set err (.. "option " a " needs a value")))
            (a:match "^%-") (set err (.. "unknown option " a))
            (table.insert pos a)))
      (set i (+ i 1)))
    (if err (values nil err)
        (not= 1 (length pos)) (values nil "expected one interface name")
        (values (. pos 1) opts))))

(fn main [args]
  (case (os.getenv "UPD_ODHCP6C_SERVICE")
    service (script-main service args)
    _ (case (parse-args args)
        (nil msg) (do (io.stderr:write (.. "odhcp6c: " msg "\n" usage "\n")) (os.exit 100))
        (iface opts) (do (start! (new iface opts)) (upd.run)))))


{: main : new : start! : env->tree : parse-address : parse-prefix : parse-route
 : ipv6->groups : groups->ipv6 : ipv6-prefix : parse-args : snapshot}
