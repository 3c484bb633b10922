;; Row 4 (iv), the waiter: subscribes to the supervisor's state of service
;; NAME; each time it is `ready` with a pid not seen ready before, appends
;; now - stamp (read from STAMP) to OUT. The pid, not a change of state, marks
;; a new run: bursts coalesce, so the states between two `ready`s may never
;; be seen. Args: NAME STAMP OUT.
(local upd (require :upd))

(local [name stamp out] [(. arg 1) (. arg 2) (. arg 3)])
(assert (and name stamp out) "usage: ready-waiter.lua NAME STAMP OUT")
(local log (assert (io.open out :a)))
(var last-pid nil)
(var first? true) ; the run that is ready when we start is not measured

(upd.subscribe (.. "upd/services/" name)
               (fn [tree]
                 (let [t (upd.now)]
                   (when (and tree (= tree.state :ready) (not= tree.pid last-pid))
                     (when (not first?)
                       (with-open [f (assert (io.open stamp))]
                         (log:write (string.format "%.9f\n" (- t (tonumber (f:read :*l))))))
                       (log:flush))
                     (set last-pid tree.pid))
                   (set first? false))))
(upd.run)
