;; follow: runs one daemon while another service's tree says `state up`
;; (the example of docs/writing-a-service.md; tests/host/t-example.sh runs it).
;;   follow SERVICE [--max-backoff SECS] -- DAEMON [ARG...]
;; Publishes <name>: state (waiting, running, backoff), reason, pid.
(local upd (require :upd))
(local args (require :upd.args))
(local process (require :upd.process))

(local spec {:name "follow" :usage "follow SERVICE [--max-backoff SECS] -- DAEMON [ARG...]"
             :positional {:min 1 :max 1 :error "expected the service to follow"}
             :options {:max-backoff args.positive} :rest :daemon
             :check #(when (= nil (?. $2 :daemon 1)) "expected -- DAEMON [ARG...]")})

(fn publish! [s state reason]
  (upd.log :info (.. state ": " reason))
  (upd.publish s.name {: state : reason :pid s.daemon.pid}))

(fn reconcile [s]
  (let [p s.daemon]
    (if (not s.up?) (do (p:stop) (publish! s :waiting (.. s.follow " is not up")))
        (or (p:running?) (p:backoff-pending?)) nil ; nothing new to say
        (case (p:start)
          (nil msg) (publish! s :backoff (.. msg "; again in " (p:backoff) " s"))
          _ (publish! s :running (.. s.follow " is up"))))))

(fn on-exit [s p status]
  (when (not p.stopping?) ; not our own stop: a death, restarted after a delay
    (let [how (if status.code (.. "code " status.code) (.. "signal " status.signal))]
      (publish! s :backoff (.. "exited (" how "), again in " (p:backoff) " s")))))

(fn main [argv]
  (let [(follow opts) (args.parse-or-exit spec argv)
        s {: follow :name (upd.service-name "follow") :up? false}]
    (set s.daemon (process.new opts.daemon {:max-backoff opts.max-backoff :healthy-after 10
                                            :on-exit #(on-exit s $1 $2) :on-wake #(reconcile s)}))
    (reconcile s)
    (upd.ready) ; initialised and publishing: what services ordered after us need
    (upd.subscribe (.. follow "/state") (fn [state] (set s.up? (= state "up")) (reconcile s)))
    (upd.run)))

(main arg)
