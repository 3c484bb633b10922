;; Row 4 (ii): child exit -> on-exit handler. Spawns HELPER `exit STAMP`
;; (which writes its CLOCK_MONOTONIC just before _exit) COUNT times, one at
;; a time, and records now - stamp in the handler. Args: COUNT HELPER STAMP OUT.
(local upd (require :upd))

(local [count helper stamp out] [(tonumber (. arg 1)) (. arg 2) (. arg 3) (. arg 4)])
(assert (and count helper stamp out) "usage: exit.lua COUNT HELPER STAMP OUT")
(local lat [])

(fn read-stamp []
  (with-open [f (assert (io.open stamp))]
    (/ (tonumber (f:read :*l)) 1e9)))

(fn spawn! []
  (assert (upd.spawn {:argv [helper :exit stamp]
                      :on-exit (fn [status]
                                 (let [t (upd.now)]
                                   (assert (= status.code 0) "helper failed")
                                   (table.insert lat (- t (read-stamp)))
                                   (if (< (length lat) count) (spawn!) (upd.stop))))})))

(spawn!)
(upd.run)
(with-open [f (assert (io.open out :w))]
  (each [_ x (ipairs lat)] (f:write (string.format "%.9f\n" x))))
