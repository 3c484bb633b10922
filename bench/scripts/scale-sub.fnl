;; Row 6, a subscriber: counts handler calls for service NAME (past the
;; first snapshot, `seq` 0) until it sees `done`, then writes the count to OUT
;; and idles until SIGTERM (bench/run reads its peak memory in /proc).
;; Writes OUT.ready once subscribed. Args: NAME OUT.
(local upd (require :upd))

(local [name out] [(. arg 1) (. arg 2)])
(assert (and name out) "usage: scale-sub.lua NAME OUT")
(var calls 0)
(var done? false)

(upd.subscribe name (fn [tree]
                      (when (and tree (not= tree.seq "0") (not done?))
                        (set calls (+ calls 1))
                        (when (= tree.done :yes)
                          (set done? true)
                          (with-open [f (assert (io.open out :w))] (f:write calls "\n"))))))
(with-open [f (assert (io.open (.. out :.ready) :w))] (f:write "ready\n"))
(upd.run)
