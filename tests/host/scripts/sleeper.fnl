;; Test service: publishes {:up yes :started <now>}, says it is ready and waits.
;; With the argument `ignore-term` it ignores SIGTERM (the supervisor must KILL).
(local upd (require :upd))
(when (= (. arg 1) "ignore-term")
  (upd.on-signal :TERM (fn [] nil)))
(upd.publish (upd.service-name "sleeper") {:up true :started (upd.now)})
(upd.ready)
(upd.run)
