;; Test service: starts a double-forking daemon (its grandchild outlives the
;; shell that started it and becomes an orphan) then waits. With `leave`, the
;; script exits at once, so the orphan is re-parented to the supervisor.
(local upd (require :upd))
(upd.spawn {:argv ["sh" "-c" "(sleep 1 &) ; exit 0"]})
(upd.publish (upd.service-name "daemon") {:spawned true})
(upd.ready)
(if (= (. arg 1) "leave")
    (upd.after 0.2 #(os.exit 0))
    nil)
(upd.run)
