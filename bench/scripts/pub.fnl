;; Row 4 (i), the publisher: publishes `bench-pub` = {:n i :stamp now} and
;; publishes the next one when the subscriber acknowledges i (one event in
;; flight, so nothing coalesces). Args: COUNT.
(local upd (require :upd))

(local count (assert (tonumber (. arg 1)) "usage: pub.lua COUNT"))
(var sent 0)

(fn send! []
  (set sent (+ sent 1))
  (assert (upd.publish :bench-pub {:n sent :stamp (string.format "%.9f" (upd.now))})))

(upd.subscribe :bench-ack
               (fn [tree]
                 (when (and tree (= (tonumber tree.n) sent))
                   (if (< sent count) (send!) (upd.stop)))))
(upd.run)
