;; Row 4 (iv), the service under `upd run`: writes its CLOCK_MONOTONIC stamp
;; to STAMP, then tells the supervisor it is ready and idles. Args: STAMP.
(local upd (require :upd))

(let [stamp (assert (. arg 1) "usage: ready.lua STAMP")]
  (with-open [f (assert (io.open stamp :w))]
    (f:write (string.format "%.9f\n" (upd.now))))
  (upd.ready)
  (upd.run))
