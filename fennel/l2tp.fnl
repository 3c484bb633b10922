;; l2tp: supervises xl2tpd (foreground, -D) for one LAC, polls the tunnel's
;; health through xl2tpd's control FIFO, and starts the ppp session
;; (`xl2tpd-control connect-lac NAME`) only once the tunnel is established.
;;
;; Publishes <name> (default "l2tp-LAC"): state (starting waiting-for-tunnel
;; connecting up backoff failed), reason, lac, pid, backoff,
;; tunnel/state (down established), tunnel/count, session/state (down
;; connecting up), session/backoff.
;; Subscribes: netlink for the ppp interface (--ppp IFNAME) when given.
;;
;; Tunnel health: every --poll SECS (default 5) it runs the probe
;; `xl2tpd-control -d -c CONTROL available` and reads the reply, which
;; xl2tpd-control prints to stderr in debug mode: `00 AVAILABLE tunnels
;; count=N` (N >= 1: established; this xl2tpd serves only our LAC). A probe
;; that exits non-zero three times in a row means the control FIFO is dead:
;; xl2tpd is restarted (with backoff). xl2tpd's own log lines `Connection
;; established to ...` / `... closed ...` / `Maximum retries exceeded` update
;; the tunnel at once, between polls. (`status-lac` is not used: xl2tpd 1.3
;; answers it only in its log.)
;; The session: connect-lac when the tunnel is established and no session
;; is up or connecting; up when the ppp interface is running (or xl2tpd logs
;; `Call established`); a session that does not come up within
;; --session-timeout (30 s), or goes down, is retried with backoff.
(local upd (require :upd))
(local process (require :upd.process))
(local policy (require :upd.policy))

(fn parse-reply-line [line]
  ;; -> {:tunnels N} for an AVAILABLE tunnels line, else nil
  (case (string.match line "AVAILABLE tunnels count=(%d+)")
    n {:tunnels (tonumber n)}))

(fn parse-log-line [line]
  ;; -> :tunnel-up :tunnel-down :session-up :session-down, or nil
  (if (line:find "Connection established to" 1 true) :tunnel-up
      (line:find "Maximum retries exceeded" 1 true) :tunnel-down
      (line:match "Connection %d+ closed") :tunnel-down
      (line:find "Call established with" 1 true) :session-up
      (line:match "Call %d+ closed") :session-down
      nil))

(fn current-state [s]
  (let [p s.daemon]
    (if s.failed-reason :failed
        (p:running?) (if (not= s.tunnel :established) :waiting-for-tunnel
                         (= s.session :up) :up
                         :connecting)
        (p:backoff-pending?) :backoff
        :starting)))

(fn publish! [s]
  (let [state (current-state s)]
    (upd.publish s.name {: state :reason s.failed-reason :lac s.lac
                         :pid (when (s.daemon:running?) s.daemon.pid)
                         :backoff (if (= state :backoff) s.last-delay 0)
                         :tunnel {:state s.tunnel :count s.tunnel-count}
                         :session {:state s.session
                                   :backoff (if s.session-policy.next-start s.session-delay 0)}})))

(fn ctl-argv [s ...]
  [s.control-cmd "-c" s.control ...])

(var reconcile nil)

(fn session-failed! [s why]
  (upd.log :warn (.. "ppp session " why))
  (set s.session :down)
  (when s.session-timer (upd.cancel s.session-timer) (set s.session-timer nil))
  (set s.session-delay (policy.on-exit s.session-policy (upd.now)))
  (upd.after s.session-delay #(reconcile s)))

(fn connect! [s]
  (set s.session :connecting)
  (policy.on-start s.session-policy (upd.now))
  (upd.spawn {:argv (ctl-argv s "connect-lac" s.lac)
              :on-exit (fn [st] (when (and (not= st.code 0) (= s.session :connecting))
                                  (session-failed! s (.. "connect-lac failed (code " (tostring st.code) ")"))
                                  (publish! s)))})
  (set s.session-timer
       (upd.after s.session-timeout
                  #(do (set s.session-timer nil)
                       (when (= s.session :connecting)
                         (session-failed! s "did not come up in time")
                         (upd.spawn {:argv (ctl-argv s "disconnect-lac" s.lac)})
                         (publish! s))))))

(fn set-tunnel! [s tunnel]
  (when (not= tunnel s.tunnel)
    (set s.tunnel tunnel)
    (when (= tunnel :down)
      (set s.session :down))))

(set reconcile
     (fn [s]
       (let [p s.daemon]
         (if s.failed-reason nil
             (not (or (p:running?) (p:backoff-pending?)))
             (case (p:start)
               (nil msg) (do (set s.failed-reason (.. "unable to start xl2tpd: " msg))
                             (upd.log :err s.failed-reason)))
             (and (p:running?) (= s.tunnel :established) (= s.session :down)
                  (policy.due? s.session-policy (upd.now)))
             (connect! s)))
       (publish! s)))

(fn probe! [s]
  (when (and (s.daemon:running?) (not s.probing?))
    (set s.probing? true)
    (var count nil)
    (case (upd.spawn {:argv (ctl-argv s "-d" "available")
                      :on-line (fn [_ line] (case (parse-reply-line line) r (set count r.tunnels)))
                      :on-exit (fn [st]
                                 (set s.probing? false)
                                 (if (and (= st.code 0) count)
                                     (do (set s.probe-failures 0)
                                         (set s.tunnel-count count)
                                         (set-tunnel! s (if (> count 0) :established :down)))
                                     (do (set s.probe-failures (+ s.probe-failures 1))
                                         (when (and (>= s.probe-failures 3) (s.daemon:running?))
                                           (upd.log :warn "xl2tpd's control FIFO does not answer; restarting it")
                                           (set s.restart-for-probe? true)
                                           (s.daemon:stop))))
                                 (reconcile s))})
      (nil msg) (do (set s.probing? false)
                    (set s.failed-reason (.. "unable to run " s.control-cmd ": " msg))
                    (upd.log :err s.failed-reason)
                    (publish! s)))))

(fn on-daemon-line [s line]
  (case (parse-log-line line)
    :tunnel-up (set-tunnel! s :established)
    :tunnel-down (set-tunnel! s :down)
    :session-up (do (set s.session :up) (policy.on-healthy s.session-policy))
    :session-down (when (= s.session :up) (session-failed! s "closed")))
  (reconcile s))

(fn on-daemon-exit [s p status]
  (set s.tunnel :down)
  (set s.session :down)
  (set s.probe-failures 0)
  (if (and p.stopping? (not s.restart-for-probe?)) nil
      (do (set s.restart-for-probe? false)
          (set s.last-delay (p:backoff))
          (upd.log :warn (.. "xl2tpd exited (" (if status.code (.. "code " status.code)
                                                   (.. "signal " (tostring status.signal)))
                             "), restarting in " s.last-delay " s"))))
  (reconcile s))

(fn on-link [s ev]
  (when (and s.ppp (= ev.ifname s.ppp))
    (let [up? (and (not= ev.action :remove) ev.running)]
      (if (and up? (not= s.session :up))
          (do (set s.session :up)
              (when s.session-timer (upd.cancel s.session-timer) (set s.session-timer nil))
              (policy.on-healthy s.session-policy))
          (and (not up?) (= s.session :up))
          (session-failed! s "went down")))
    (reconcile s)))

(fn new [lac ?opts]
  (let [opts (or ?opts {})
        s {: lac :name (or opts.name (upd.service-name (.. "l2tp-" lac)))
           :control (or opts.control "/run/xl2tpd/l2tp-control")
           :control-cmd (or opts.xl2tpd-control "xl2tpd-control")
           :ppp opts.ppp
           :poll (or opts.poll 5)
           :session-timeout (or opts.session-timeout 30)
           :tunnel :down :tunnel-count 0 :session :down :session-delay 0
           :probe-failures 0 :last-delay 0
           :session-policy (policy.new {:initial 1 :max (or opts.max-backoff 60) :healthy-after false})}]
    (set s.daemon (process.new [(or opts.xl2tpd "xl2tpd") "-D"
                                "-c" (or opts.config "/etc/xl2tpd/xl2tpd.conf")
                                "-C" s.control]
                               {:max-backoff (or opts.max-backoff 60)
                                :on-line #(on-daemon-line s $2)
                                :on-exit #(on-daemon-exit s $1 $2)
                                :on-wake #(reconcile s)}))
    s))

(fn start! [s]
  (upd.on-netlink #(on-link s $1))
  (upd.every s.poll #(probe! s))
  (reconcile s)
  s)

(local usage "usage: l2tp LAC [--config PATH] [--control FIFO] [--ppp IFNAME] [--poll SECS] [--session-timeout SECS] [--max-backoff SECS] [--name NAME] [--xl2tpd PATH] [--xl2tpd-control PATH]")

(fn parse-args [args]
  (let [opts {} pos []
        numeric {:poll true :session-timeout true :max-backoff true}
        known {:config true :control true :ppp true :name true :xl2tpd true :xl2tpd-control true}]
    (var (i err) (values 1 nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) v (. args (+ i 1))
            key (a:match "^%-%-(.+)$")]
        (if (not key) (table.insert pos a)
            (not (or (. numeric key) (. known key))) (set err (.. "unknown option " a))
            (= nil v) (set err (.. "option " a " needs a value"))
            (and (. numeric key) (not (and (tonumber v) (> (tonumber v) 0))))
            (set err (.. "option " a " needs a positive number, not " v))
            (do (tset opts key (if (. numeric key) (tonumber v) v)) (set i (+ i 1)))))
      (set i (+ i 1)))
    (if err (values nil err)
        (not= 1 (length pos)) (values nil "expected one LAC name")
        (values (. pos 1) opts))))

(fn main [args]
  (case (parse-args args)
    (nil msg) (do (io.stderr:write (.. "l2tp: " msg "\n" usage "\n")) (os.exit 100))
    (lac opts) (do (start! (new lac opts)) (upd.run))))


{: main : new : start! : parse-args : parse-log-line : parse-reply-line}
