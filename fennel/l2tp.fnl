;; l2tp: supervises xl2tpd (foreground, -D) for one LAC, dials the LAC
;; (`xl2tpd-control connect-lac NAME`) and follows the tunnel and the ppp
;; session it carries through xl2tpd's log, its control FIFO and netlink.
;;
;; Publishes <name> (default "l2tp-LAC"): state (starting waiting-for-tunnel
;; connecting up backoff failed), reason, lac, pid, backoff,
;; tunnel/state (down connecting established), tunnel/count, session/state
;; (down connecting up), session/backoff.
;; Subscribes: netlink for the ppp interface (--ppp IFNAME) when given.
;;
;; A LAC's xl2tpd opens a tunnel only when it dials, and places the call
;; itself as soon as that tunnel is established (SCCCN), so the session can
;; only start after the tunnel: once xl2tpd's control FIFO has answered a
;; probe (below), with no tunnel, connect-lac dials (tunnel
;; `connecting`, session still `down`); the tunnel's `Connection established`
;; log line makes it `established` and the session `connecting`. With a
;; tunnel up and no call (the call closed, the tunnel stayed), connect-lac
;; places a call on it. The session is up when the ppp interface is running
;; (--ppp), or without --ppp when xl2tpd logs `Call established`; a dial or
;; call that is not up within --session-timeout (30 s), or goes down, is
;; retried with its own backoff (after disconnect-lac on a timeout).
;;
;; Tunnel health: 0.2 s after each start of xl2tpd, then every --poll SECS
;; (default 5), it runs the probe
;; `xl2tpd-control -d -c CONTROL available`, whose reply (on stderr in debug
;; mode) lists each tunnel as `AVAILABLE tunnel 0x.., id N, ourtid M ...`
;; (N, the peer's id, is 0 until the peer answered) and ends with `AVAILABLE
;; tunnels count=N`: a tunnel with a peer id is established. A reply older
;; than a log event is ignored. A probe that fails three times in a row means
;; the control FIFO is dead: xl2tpd is restarted (with backoff, reset once a
;; tunnel is established). xl2tpd's log lines update the tunnel and the call
;; at once, between polls. (`status-lac` is not used: xl2tpd 1.3 answers it
;; only in its log.)
;;
;; xl2tpd never creates its control FIFO's directory (it exits 1 without
;; it), nor the one xl2tpd-control's replies go to (/var/run/xl2tpd): both
;; are made (`mkdir -p`) before each start. When xl2tpd exits, its last line
;; of output is the published `reason` until it runs again.
(local upd (require :upd))
(local args (require :upd.args))
(local process (require :upd.process))
(local policy (require :upd.policy))

(fn parse-reply-line [line]
  ;; -> {:tunnel-id N} for a tunnel line, {:tunnels N} for the closing count
  ;; line, else nil
  (case (string.match line "AVAILABLE tunnel [^,]*, id (%d+),")
    id {:tunnel-id (tonumber id)}
    _ (case (string.match line "AVAILABLE tunnels count=(%d+)")
        n {:tunnels (tonumber n)})))

(fn parse-log-line [line]
  ;; -> :tunnel-up :tunnel-down :session-up :session-down, or nil
  ;; (xl2tpd 1.3.18's words; a call's close names its serial, a tunnel's its port)
  (if (line:find "Connection established to" 1 true) :tunnel-up
      (line:find "Maximum retries exceeded" 1 true) :tunnel-down
      (line:match "Connection %d+ closed to") :tunnel-down
      (line:match "Connection closed to .*, port %d+") :tunnel-down
      (line:find "Call established with" 1 true) :session-up
      (line:match "Connection closed to .*, serial %d+") :session-down
      (line:match "call_close: Call %d+ to .* disconnected") :session-down
      (line:find "pppd exited for call" 1 true) :session-down
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
    (upd.publish s.name {: state :lac s.lac
                         :reason (or s.failed-reason (when (not (s.daemon:running?)) s.exit-reason))
                         :pid (when (s.daemon:running?) s.daemon.pid)
                         :backoff (if (= state :backoff) s.last-delay 0)
                         :tunnel {:state s.tunnel :count s.tunnel-count}
                         :session {:state s.session
                                   :backoff (if (policy.due? s.session-policy (upd.now)) 0
                                                s.session-delay)}})))

(fn dirname [path] (or (path:match "^(.*)/[^/]*$") "."))

(fn ctl-argv [s ...]
  [s.control-cmd "-c" s.control ...])

(var (reconcile probe!) (values nil nil))

(fn cancel-session-timer! [s]
  (when s.session-timer (upd.cancel s.session-timer) (set s.session-timer nil)))

(fn session-failed! [s why]
  (upd.log :warn (.. "ppp session " why))
  (set s.session :down)
  (when (= s.tunnel :connecting) (set s.tunnel :down))
  (cancel-session-timer! s)
  (set s.session-delay (policy.on-exit s.session-policy (upd.now)))
  (upd.after s.session-delay #(reconcile s)))

(fn connect! [s]
  ;; with a tunnel: a call on it; without: a dial (tunnel, then xl2tpd's call)
  (if (= s.tunnel :established)
      (set s.session :connecting)
      (set s.tunnel :connecting))
  (set s.tunnel-gen (+ s.tunnel-gen 1))
  (policy.on-start s.session-policy (upd.now))
  (upd.spawn {:argv (ctl-argv s "connect-lac" s.lac)
              :on-exit (fn [st] (when (and (not= st.code 0) (not= s.session :up)
                                           (or (= s.session :connecting) (= s.tunnel :connecting)))
                                  (session-failed! s (.. "connect-lac failed (code " (tostring st.code) ")"))
                                  (publish! s)))})
  (set s.session-timer
       (upd.after s.session-timeout
                  #(do (set s.session-timer nil)
                       (when (not= s.session :up)
                         (session-failed! s "did not come up in time")
                         (upd.spawn {:argv (ctl-argv s "disconnect-lac" s.lac)})
                         (publish! s))))))

(fn set-tunnel! [s tunnel]
  (when (not= tunnel s.tunnel)
    (let [dialing? (= s.tunnel :connecting)]
      (set s.tunnel tunnel)
      (set s.tunnel-gen (+ s.tunnel-gen 1))
      (if (= tunnel :established)
          (do (s.daemon:aver-healthy)
              ;; our dial: xl2tpd places the call itself now
              (when (and dialing? (= s.session :down)) (set s.session :connecting)))
          (not= s.session :down) (session-failed! s "lost its tunnel")
          dialing? (session-failed! s "tunnel failed")))))

(fn start-daemon! [s]
  (let [p s.daemon]
    (when (not (or s.failed-reason (p:running?) (p:backoff-pending?)))
      (set s.last-words nil)
      (case (p:start)
        (nil msg) (do (set s.failed-reason (.. "unable to start xl2tpd: " msg))
                      (upd.log :err s.failed-reason))
        _ (upd.after 0.2 #(probe! s))))
    (publish! s)))

(set reconcile
     (fn [s]
       (let [p s.daemon]
         (if s.failed-reason nil
             (not (or (p:running?) (p:backoff-pending?) s.making-dirs?))
             ;; xl2tpd exits 1 at once without its FIFO's directory
             (do (set s.making-dirs? true)
                 (case (upd.spawn {:argv ["mkdir" "-p" (dirname s.control) s.reply-dir]
                                   :on-exit (fn [st]
                                              (when (not= st.code 0)
                                                (upd.log :warn (.. "mkdir -p " (dirname s.control) " "
                                                                   s.reply-dir " failed (code "
                                                                   (tostring st.code) ")")))
                                              (set s.making-dirs? false)
                                              (start-daemon! s))})
                   (nil msg) (do (upd.log :warn (.. "unable to run mkdir: " msg))
                                 (set s.making-dirs? false)
                                 (start-daemon! s))))
             (and (p:running?) s.answered? (= s.session :down) (not= s.tunnel :connecting)
                  (policy.due? s.session-policy (upd.now)))
             (connect! s)))
       (publish! s)))

(set probe!
     (fn [s]
       (when (and (s.daemon:running?) (not s.probing?))
         (set s.probing? true)
         (var (count established) (values nil 0))
         (let [gen s.tunnel-gen]
           (case (upd.spawn {:argv (ctl-argv s "-d" "available")
                             :on-line (fn [_ line]
                                        (case (parse-reply-line line)
                                          {: tunnel-id} (when (> tunnel-id 0) (set established (+ established 1)))
                                          {: tunnels} (set count tunnels)))
                             :on-exit (fn [st]
                                        (set s.probing? false)
                                        (if (and (= st.code 0) count)
                                            (do (set s.probe-failures 0)
                                                (set s.answered? true)
                                                (set s.tunnel-count count)
                                                ;; a reply older than a log event says nothing new
                                                (when (= gen s.tunnel-gen)
                                                  (if (> established 0) (set-tunnel! s :established)
                                                      (= s.tunnel :established) (set-tunnel! s :down))))
                                            (do (set s.probe-failures (+ s.probe-failures 1))
                                                (when (and (>= s.probe-failures 3) (s.daemon:running?))
                                                  (upd.log :warn "xl2tpd's control FIFO does not answer; restarting it")
                                                  (set s.restart-for-probe? true)
                                                  (s.daemon:stop))))
                                        (reconcile s))})
             (nil msg) (do (set s.probing? false)
                           (set s.failed-reason (.. "unable to run " s.control-cmd ": " msg))
                           (upd.log :err s.failed-reason)
                           (publish! s)))))))

(fn on-daemon-line [s line]
  (upd.log :info line)
  (set s.last-words line)
  (case (parse-log-line line)
    :tunnel-up (set-tunnel! s :established)
    :tunnel-down (set-tunnel! s :down)
    ;; with --ppp the session is up when the interface runs, not when pppd starts
    :session-up (when (and (not s.ppp) (not= s.session :up))
                  (set s.session :up)
                  (cancel-session-timer! s)
                  (policy.on-healthy s.session-policy))
    :session-down (when (not= s.session :down) (session-failed! s "closed")))
  (reconcile s))

(fn on-daemon-exit [s p status]
  (set s.tunnel :down)
  (set s.session :down)
  (set s.tunnel-gen (+ s.tunnel-gen 1))
  (set s.probe-failures 0)
  (set s.answered? false)
  ;; the old daemon's dial is gone with it; the new one dials at once
  (cancel-session-timer! s)
  (policy.cancel s.session-policy)
  (if (and p.stopping? (not s.restart-for-probe?)) nil
      (let [why (.. "xl2tpd exited (" (if status.code (.. "code " status.code)
                                          (.. "signal " (tostring status.signal))) ")"
                    (if s.last-words (.. ": " s.last-words) ""))]
        (set s.restart-for-probe? false)
        (set s.exit-reason why)
        (set s.last-delay (p:backoff))
        (upd.log :warn (.. why "; restarting in " s.last-delay " s"))))
  (reconcile s))

(fn on-link [s ev]
  (when (and s.ppp (= ev.ifname s.ppp))
    (let [up? (and (not= ev.action :remove) ev.running)]
      (if (and up? (not= s.session :up))
          (do (set s.session :up)
              (cancel-session-timer! s)
              (policy.on-healthy s.session-policy))
          (and (not up?) (= s.session :up))
          (session-failed! s "went down")))
    (reconcile s)))

(fn new [lac ?opts]
  (let [opts (or ?opts {})
        s {: lac :name (or opts.name (upd.service-name (.. "l2tp-" lac)))
           :control (or opts.control "/run/xl2tpd/l2tp-control")
           :reply-dir "/var/run/xl2tpd" ; xl2tpd-control's, fixed at build time
           :control-cmd (or opts.xl2tpd-control "xl2tpd-control")
           :ppp opts.ppp
           :poll (or opts.poll 5)
           :session-timeout (or opts.session-timeout 30)
           :tunnel :down :tunnel-count 0 :tunnel-gen 0 :session :down :session-delay 0
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
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "l2tp"
             :usage "l2tp LAC [--config PATH] [--control FIFO] [--ppp IFNAME] [--poll SECS] [--session-timeout SECS] [--max-backoff SECS] [--name NAME] [--xl2tpd PATH] [--xl2tpd-control PATH]"
             :positional {:min 1 :max 1 :error "expected one LAC name"}
             :options {:poll args.positive :session-timeout args.positive :max-backoff args.positive
                       :config args.text :control args.text :ppp args.text :name args.text
                       :xl2tpd args.text :xl2tpd-control args.text}})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [(lac opts) (args.parse-or-exit spec argv)]
    (start! (new lac opts))
    (upd.run)))


{: main : new : start! : parse-args : parse-log-line : parse-reply-line}
