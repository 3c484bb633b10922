;; Row 6, a service: publishes KEYS keys under NAME; on SIGUSR1 republishes
;; the tree COUNT times, every INTERVAL seconds, one key changing each time
;; (`seq`), the last with `done` = yes, then idles until SIGTERM (so that
;; bench/run reads its peak memory in /proc). COUNT 0: stays idle.
;; Args: NAME KEYS COUNT INTERVAL.
(local upd (require :upd))

(local [name nkeys count interval]
  [(. arg 1) (tonumber (. arg 2)) (tonumber (. arg 3)) (tonumber (. arg 4))])
(assert (and name nkeys count interval) "usage: scale-pub.lua NAME KEYS COUNT INTERVAL")

(fn tree [seq]
  (let [t {: seq}]
    (for [i 1 (- nkeys 1)] (tset t (.. :key- i) (.. "value " i)))
    t))

(assert (upd.publish name (tree 0)))
(var sent 0)
(var timer nil)
(upd.on-signal :USR1
               (fn []
                 (when (and (> count 0) (= timer nil))
                   (set timer
                        (upd.every interval
                                   (fn []
                                     (set sent (+ sent 1))
                                     (let [t (tree sent)]
                                       (when (>= sent count)
                                         (set t.done :yes)
                                         (upd.cancel timer))
                                       (assert (upd.publish name t)))))))))
(upd.run)
