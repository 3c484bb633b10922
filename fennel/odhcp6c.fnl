;; odhcp6c: supervises `odhcp6c -s SCRIPT [OPTIONS] IFACE` and is that
;; state script.
;;
;; Supervisor mode (`odhcp6c IFACE [--name N] [--odhcp6c PATH] [--script PATH]
;; [-- ODHCP6C-OPTION...]`) publishes <name> (`upd.service-name`, default
;; "odhcp6c-IFACE"): interface, pid, state (the odhcp6c state: started bound
;; informed updated rebound ra-updated unbound stopped; or ours:
;; waiting-for-interface starting backoff failed), reason, backoff, and the
;; script's tree merged in. odhcp6c runs only while IFACE exists and is up
;; with carrier (a ppp0 that pppd re-creates is a new interface: a new
;; odhcp6c). It subscribes to <name>.dhcp, which the script publishes.
;;
;; Script mode: odhcp6c runs SCRIPT IFACE STATE; SCRIPT is a wrapper the
;; packaging installs (`exec upscript -m odhcp6c "$@"`); the supervisor passes
;; env UPD_ODHCP6C_SERVICE=<name>.dhcp, which selects script mode. Each call
;; publishes the whole tree from odhcp6c's variables (docs/services.md has
;; the layout, variable by variable), so a withdrawn prefix's keys
;; disappear. A variable with an entry that cannot be read keeps its last
;; good value; the error is published as `last-error` (and `rejected`, the
;; count) and the script exits 1.
(local upd (require :upd))
(local args (require :upd.args))
(local process (require :upd.process))
(local ipv6 (require :ipv6))

(local teardown-states {:started true :unbound true :stopped true})
(local lease-states {:bound true :informed true :updated true :rebound true :ra-updated true})

;; entries

(fn fields [entry]
  (icollect [f (string.gmatch (.. entry ",") "([^,]*),")] f))

(fn uint [text]
  ;; odhcp6c prints lifetimes and metrics with %u
  (when (and text (text:match "^%d+$") (<= (length text) 10))
    (let [n (tonumber text)] (when (<= n 4294967295) n))))

(fn prefix-field [text]
  ;; "ADDR/LEN" -> address, length
  (case (string.match (or text "") "^([%x:%.]+)/(%d+)$")
    (address len) (when (and (ipv6.->groups address) (<= (tonumber len) 128))
                    (values address (tonumber len)))))

(fn parse-lifetimes [f entry-kind]
  ;; F: the fields of an entry; -> {address length preferred valid t1 t2},
  ;; the index of the first field after them; or nil, msg
  (let [(address len) (prefix-field (. f 1))
        preferred (uint (. f 2))
        valid (uint (. f 3))
        t1 (uint (. f 4))
        t2 (uint (. f 5))]
    (if (not address) (values nil (.. "bad " entry-kind "/length"))
        (not (and preferred valid)) (values nil "lifetimes must be unsigned integers")
        (and t1 (not t2)) (values nil "t1 without t2")
        (values {: address :length len : preferred : valid : t1 : t2} (if t1 6 4)))))

(fn parse-address [entry]
  ;; ADDR/LEN,preferred,valid[,t1,t2] (t1,t2 since odhcp6c of October 2024)
  (let [f (fields entry)]
    (case (parse-lifetimes f "address")
      (a next) (if (= (length f) (- next 1)) a (values nil (.. "unexpected field " (. f next))))
      (nil msg) (values nil msg))))

(fn parse-prefix [entry]
  ;; PREFIX/LEN,preferred,valid[,t1,t2][,class=%08x][,excluded=PREFIX/LEN]
  (let [f (fields entry)]
    (case (parse-lifetimes f "prefix")
      (a next) (let [p {:prefix a.address :length a.length :preferred a.preferred
                        :valid a.valid :t1 a.t1 :t2 a.t2}]
                 (var err nil)
                 (for [i next (length f)]
                   (case (string.match (. f i) "^(%w+)=(.*)$")
                     ("class" v) (if (v:match "^%x+$") (set p.class v) (set err "bad class"))
                     ("excluded" v) (if (prefix-field v) (set p.excluded v) (set err "bad excluded"))
                     _ (set err (.. "unexpected field " (. f i)))))
                 (if err (values nil err) p))
      (nil msg) (values nil msg))))

(fn parse-route [entry]
  ;; DEST/LEN,GATEWAY,valid,metric (GATEWAY empty for on-link routes)
  (let [f (fields entry)
        (dest len) (prefix-field (. f 1))
        gateway (. f 2)
        valid (uint (. f 3))
        metric (uint (. f 4))]
    (if (not dest) (values nil "bad destination/length")
        (not= 4 (length f)) (values nil "expected 4 fields")
        (and (not= gateway "") (not (ipv6.->groups gateway))) (values nil "bad gateway")
        (not (and valid metric)) (values nil "valid lifetime and metric must be unsigned integers")
        {:destination dest :length len :gateway (if (= gateway "") nil gateway)
         : valid : metric})))

(fn parse-plain-address [entry]
  (if (ipv6.->groups entry) entry (values nil "bad address")))

(fn parse-domain [entry]
  (if (entry:match "^[%w_][%w%.%-_]*$") entry (values nil "bad domain name")))

(local s46-keys {:type true :ealen true :prefix4len true :prefix6len true :ipv4prefix true
                 :ipv6prefix true :offset true :psidlen true :psid true :br true :dmr true})

(fn parse-s46-rule [entry]
  ;; [fmr,]type=map-e,ealen=N,...,br=ADDR,  (odhcp6c's MAPE/MAPT/LW4O6 rules)
  (let [rule {}]
    (var err nil)
    (each [_ x (ipairs (fields entry))]
      (case (x:match "^(%w+)=([%w%.:/%-]+)$")
        (k v) (if (. s46-keys k) (tset rule k v) (set err (.. "unknown field " k)))
        _ (if (= x "fmr") (set rule.fmr true)
              (not= x "") (set err (.. "bad field " x)))))
    (if err (values nil err)
        (not rule.type) (values nil "no type=")
        rule)))

;; variables -> tree

(fn split-list [value]
  (icollect [w (string.gmatch (or value "") "%S+")] w))

(fn parse-list [env name parse errors]
  ;; -> the parsed entries, or nil when one could not be read (logged in ERRORS)
  (var ok? true)
  (let [out (icollect [_ entry (ipairs (split-list (. env name)))]
              (case (parse entry)
                v v
                (nil msg) (do (set ok? false)
                              (table.insert errors (.. name " entry '" entry "': " msg))
                              nil)))]
    (when ok? out)))

(fn union [...]
  ;; the lists concatenated without repeats; nil if any is nil (unreadable)
  (let [seen {} out [] lists [...]]
    (var ok? true)
    (for [i 1 (select "#" ...)]
      (case (. lists i)
        list (each [_ v (ipairs list)]
               (when (not (. seen v)) (tset seen v true) (table.insert out v)))
        nil (set ok? false)))
    (when ok? out)))

(fn live-prefixes [prefixes]
  ;; the seed's ra_prefixes: the delegated prefixes the LAN is to announce
  ;; (odhcp6c also passes a withdrawn one, with valid 0, once: RFC 7084 L-13)
  (when prefixes
    (icollect [_ p (ipairs prefixes)]
      (when (> p.valid 0)
        {:prefix p.prefix :length p.length :valid p.valid :preferred p.preferred
         :excluded p.excluded}))))

(fn scalar [env name pattern errors]
  ;; -> the value, false when absent, nil when unreadable
  (case (. env name)
    nil false
    v (if (v:match pattern) v
          (do (table.insert errors (.. name " '" v "': not in odhcp6c's format")) nil))))

(fn options [env errors]
  ;; OPTION_<n>=HEX (odhcp6c's -r requested options it does not decode)
  (var ok? true)
  (let [out {}]
    (each [k v (pairs env)]
      (case (k:match "^OPTION_(%d+)$")
        n (if (v:match "^%x*$") (tset out n v)
              (do (set ok? false) (table.insert errors (.. k ": not hexadecimal"))))))
    (when ok? out)))

(fn env->tree [state env ?previous]
  ;; env: odhcp6c's variables (a table); ?previous: the tree this service
  ;; published last (as upd.read returns it). -> tree, errors (a sequence)
  (let [errors []
        prev (or ?previous {})
        keep (fn [key value] (if (= nil value) (. prev key) value))]
    (if (. teardown-states state)
        (values {: state} errors)
        (let [prefixes (parse-list env :PREFIXES parse-prefix errors)
              list #(parse-list env $1 $2 errors)
              tree {: state
                    :addresses (keep :addresses (list :ADDRESSES parse-address))
                    :prefixes (keep :prefixes prefixes)
                    :ra_prefixes (keep :ra_prefixes (live-prefixes prefixes))
                    :ra_addresses (keep :ra_addresses (list :RA_ADDRESSES parse-address))
                    :routes (keep :routes (list :RA_ROUTES parse-route))
                    :rdnss (keep :rdnss (union (list :RDNSS parse-plain-address)
                                               (list :RA_DNS parse-plain-address)))
                    :domains (keep :domains (union (list :DOMAINS parse-domain)
                                                   (list :RA_DOMAINS parse-domain)))
                    :server (keep :server (list :SERVER parse-plain-address))
                    :sntp (keep :sntp (list :SNTP_IP parse-plain-address))
                    :ntp (keep :ntp (list :NTP_IP parse-plain-address))
                    :ntp_fqdn (keep :ntp_fqdn (list :NTP_FQDN parse-domain))
                    :sip (keep :sip (list :SIP_IP parse-plain-address))
                    :sip_domain (keep :sip_domain (list :SIP_DOMAIN parse-domain))
                    :aftr (keep :aftr (list :AFTR parse-domain))
                    :mape (keep :mape (list :MAPE parse-s46-rule))
                    :mapt (keep :mapt (list :MAPT parse-s46-rule))
                    :lw4o6 (keep :lw4o6 (list :LW4O6 parse-s46-rule))
                    :cer (keep :cer (list :CER parse-plain-address))
                    :options (keep :options (options env errors))}
              ra {}]
          (each [name key (pairs {:RA_MTU :mtu :RA_HOPLIMIT :hoplimit
                                  :RA_REACHABLE :reachable :RA_RETRANSMIT :retransmit})]
            (case (scalar env name "^%d+$" errors)
              nil (tset ra key (?. prev :ra key))
              false nil
              v (tset ra key v)))
          (set tree.ra ra)
          (each [name key (pairs {:PASSTHRU :passthru :CAPTIVE_PORTAL_URI :captive_portal})]
            (case (scalar env name (if (= name :PASSTHRU) "^%x*$" "^[%w%p]*$") errors)
              nil (tset tree key (. prev key))
              false nil
              "" nil
              v (tset tree key v)))
          (when (> (length errors) 0)
            (set tree.last-error (. errors 1))
            (set tree.rejected (length errors)))
          (values tree errors)))))

(fn read-environ []
  ;; the whole environment (OPTION_<n> cannot be asked for by name)
  (case (io.open "/proc/self/environ" "rb")
    f (let [data (f:read "*a") out {}]
        (f:close)
        (each [k v (data:gmatch "([^%z=]+)=([^%z]*)")] (tset out k v))
        out)
    _ (collect [_ k (ipairs [:ADDRESSES :PREFIXES :RA_ADDRESSES :RA_ROUTES :RDNSS :RA_DNS
                             :DOMAINS :RA_DOMAINS :SERVER :SNTP_IP :NTP_IP :NTP_FQDN
                             :SIP_IP :SIP_DOMAIN :AFTR :MAPE :MAPT :LW4O6 :CER :PASSTHRU
                             :CAPTIVE_PORTAL_URI :RA_MTU :RA_HOPLIMIT :RA_REACHABLE
                             :RA_RETRANSMIT])]
        (values k (os.getenv k)))))

(fn script-main [service argv]
  (let [[iface state] argv]
    (if (not (and iface state))
        (do (io.stderr:write "odhcp6c: script mode expects IFACE STATE arguments\n")
            (os.exit args.usage-exit))
        (let [previous (when (. lease-states state) (upd.read service))
              (tree errors) (env->tree state (read-environ) previous)]
          (set tree.interface iface)
          (each [_ e (ipairs errors)]
            (upd.log :err (.. "odhcp6c " state " on " iface ": " e "; keeping its last good value")))
          (case (upd.publish service tree)
            (nil msg) (do (io.stderr:write (.. "odhcp6c: unable to publish " service ": " msg "\n"))
                          (os.exit 111)))
          (when (> (length errors) 0) (os.exit 1))))))

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
                        (not s.iface-up?) :waiting-for-interface
                        :stopped))
    (set tree.backoff (if (= tree.state :backoff) s.last-delay 0))
    (set tree.reason (or s.failed-reason (when (= tree.state :starting) s.quiet-reason)))
    (when (p:running?) (set tree.pid p.pid))
    tree))

(fn publish! [s]
  (case (upd.publish s.name (snapshot s))
    (nil msg) (upd.log :err (.. "unable to publish " s.name ": " msg))))

(fn script-missing? [path]
  (case (io.open path "r")
    f (do (f:close) false)
    _ true))

(fn start-daemon! [s]
  (let [p s.daemon]
    (upd.withdraw s.dhcp-name) ; data of a previous instance is stale
    (set s.dhcp nil)
    (set s.quiet-reason nil)
    (if (script-missing? s.script)
        (do (set s.failed-reason (.. "odhcp6c's script " s.script " is missing (it is a wrapper the"
                                     " packaging installs: exec upscript -m odhcp6c \"$@\")"))
            (upd.log :err s.failed-reason))
        (case (p:start)
          (nil msg) (do (set s.failed-reason (.. "unable to start odhcp6c: " msg))
                        (upd.log :err s.failed-reason))
          _ (let [pid p.pid]
              ;; odhcp6c runs its script at once (`started`): silence means it cannot
              (upd.after s.quiet-after
                         #(when (and (= p.pid pid) (p:running?) (not s.dhcp))
                            (set s.quiet-reason (.. "no call from odhcp6c's script " s.script
                                                    " within " s.quiet-after
                                                    " s: is it executable?"))
                            (upd.log :warn s.quiet-reason)
                            (publish! s))))))))

(fn reconcile [s]
  (let [p s.daemon]
    (if s.failed-reason nil
        (not s.iface-up?)
        (do (when (and (p:running?) (not p.stopping?)) (p:stop))
            (when (not (p:running?)) (p:stop)) ; drops a pending backoff
            (p:aver-healthy))
        (not (or (p:running?) (p:backoff-pending?)))
        (start-daemon! s)))
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
  (when (and tree (. lease-states tree.state))
    (s.daemon:aver-healthy))
  (publish! s))

(fn on-link [s ev]
  (when (and (= ev.kind :link) (= ev.ifname s.iface))
    (let [up? (and (not ev.removed) ev.up (or ev.running ev.carrier) true)]
      (when (and up? (not s.iface-up?)) (set s.failed-reason nil)) ; a new link, a new chance
      (set s.iface-up? up?)
      (reconcile s))))

(fn new [iface ?opts]
  (let [opts (or ?opts {})
        name (or opts.name (upd.service-name (.. "odhcp6c-" iface)))
        script (or opts.script "/usr/libexec/upd/odhcp6c-script")
        s {: iface : name : script :dhcp-name (.. name ".dhcp") :last-delay 0
           :iface-up? false :quiet-after 10}
        argv [(or opts.odhcp6c "odhcp6c") "-s" script]]
    (each [_ o (ipairs (or opts.extra []))] (table.insert argv o))
    (table.insert argv iface)
    (set s.daemon (process.new argv {:env {:UPD_ODHCP6C_SERVICE s.dhcp-name}
                                     :on-exit #(on-exit s $1 $2)
                                     :on-wake #(reconcile s)}))
    s))

(fn start! [s]
  (upd.subscribe s.dhcp-name #(on-dhcp s $1))
  (upd.on-netlink #(on-link s $1))
  (each [_ ev (ipairs (upd.links))]
    (when (= ev.ifname s.iface) (on-link s ev)))
  (reconcile s)
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "odhcp6c"
             :usage "odhcp6c IFACE [--name NAME] [--odhcp6c PATH] [--script PATH] [-- ODHCP6C-OPTION...]"
             :positional {:min 1 :max 1 :error "expected one interface name"}
             :options {:name args.text :odhcp6c args.text :script args.text}
             :rest :extra})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (case (os.getenv "UPD_ODHCP6C_SERVICE")
    service (script-main service argv)
    _ (let [(iface opts) (args.parse-or-exit spec argv)]
        (start! (new iface opts))
        (upd.run))))


{: main : new : start! : env->tree : parse-address : parse-prefix : parse-route
 : parse-s46-rule : parse-args : snapshot : on-link}
