;; Fault-injection service: keeps a daemon (`sleep 1000`) running with
;; upd.process (its own backoff), publishes {daemon script started} whenever
;; the daemon (re)starts; ready once the first daemon runs.
(local upd (require :upd))
(local process (require :upd.process))
(local name (upd.service-name "chaos-p"))
(local self (with-open [f (io.open "/proc/self/stat")] (tonumber (: (f:read :*l) :match "^(%d+)"))))

(fn publish! [p]
  (assert (upd.publish name {:daemon (or p.pid "none") :script self :started (upd.now)})))

(var p nil)
(set p (process.new ["sleep" "1000"]
                    {:initial-backoff 0.5 :max-backoff 2
                     :on-exit (fn [p] (publish! p) (p:backoff))
                     :on-wake (fn [p] (assert (p:start)) (publish! p))}))
(assert (p:start))
(publish! p)
(upd.ready)
(upd.run)
