;; Row 3: an idle supervised service. Starts `sleep 1000` through upd.spawn,
;; publishes its state, then waits in the loop; memory and context switches
;; are read from /proc by bench/run.
(local upd (require :upd))

(local name (upd.service-name :idle))

(local child
  (assert (upd.spawn {:argv [:sleep :1000]
                      :on-exit (fn [status]
                                 (upd.publish name {:state :exited
                                                    :code (or status.code -1)}))})))

(assert (upd.publish name {:state :running :pid child.pid}))
(upd.run)
