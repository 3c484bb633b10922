;; Test service: notes the time of each start in the file ARG 1, then fails.
(local upd (require :upd))
(local file (. arg 1))
(with-open [f (io.open file :a)]
  (f:write (string.format "%.3f\n" (upd.now))))
(os.exit 1)
