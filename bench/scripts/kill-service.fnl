;; Row 4 (iii): a service supervising a daemon with upd.process. On each exit
;; it publishes {:state :down ...} and then appends "PID NOW" to OUT (the
;; moment the published state says so); bench/run kills the daemon with
;; SIGKILL and compares. Restarts after a short backoff so that many kills fit
;; in a run. Args: HELPER PIDFILE OUT.
(local upd (require :upd))
(local process (require :upd.process))

(local [helper pidfile out] [(. arg 1) (. arg 2) (. arg 3)])
(assert (and helper pidfile out) "usage: kill-service.lua HELPER PIDFILE OUT")
(local name (upd.service-name :killsvc))
(local log (assert (io.open out :a)))

(var p nil)

(fn start! []
  (case (p:start)
    h (assert (upd.publish name {:state :running :pid h.pid}))
    (nil msg) (error msg)))

(set p (process.new [helper :daemon pidfile]
                    {:initial-backoff 0.02 :max-backoff 0.02
                     :on-exit (fn [_ status]
                                (assert (upd.publish name {:state :down
                                                           :pid status.pid
                                                           :signal (or status.signal 0)}))
                                (let [t (upd.now)]
                                  (log:write (string.format "%d %.9f\n" status.pid t))
                                  (log:flush))
                                (p:backoff))
                     :on-wake start!}))
(start!)
(upd.run)
