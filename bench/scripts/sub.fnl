;; Row 4 (i), the subscriber: on each `bench-pub` snapshot records
;; now - stamp (seconds) and acknowledges it in `bench-ack`; after COUNT
;; events writes the latencies, one a line, to OUT. Args: COUNT OUT.
(local upd (require :upd))

(local count (assert (tonumber (. arg 1)) "usage: sub.lua COUNT OUT"))
(local out (assert (. arg 2) "usage: sub.lua COUNT OUT"))
(local lat [])

(upd.subscribe :bench-pub
               (fn [tree]
                 (let [t (upd.now)]
                   (when tree
                     (let [n (tonumber tree.n)]
                       (tset lat n (- t (tonumber tree.stamp)))
                       (assert (upd.publish :bench-ack {: n}))
                       (when (>= n count) (upd.stop)))))))
;; The publisher starts on this first acknowledgement.
(assert (upd.publish :bench-ack {:n 0}))
(upd.run)

(with-open [f (assert (io.open out :w))]
  (for [i 1 count]
    (f:write (string.format "%.9f\n" (or (. lat i) -1)))))
