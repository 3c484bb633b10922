;; upd.process over the real loop: a child that keeps failing is restarted
;; with a doubling backoff (0.1 s, then 0.2 s); stop terminates a running one.
(local upd (require :upd))
(local process (require :upd.process))

(var t0 (upd.now))
(var runs 0)
(var p nil)

(fn stamp [] (string.format "%.1f" (- (upd.now) t0)))

(set p (process.new ["sh" "-c" "echo run; exit 3"]
                    {:initial-backoff 0.1 :max-backoff 10
                     :on-line (fn [_ line] (print (.. "line " line)))
                     :on-exit (fn [p status]
                                (print (.. "exit code " status.code " at " (stamp)))
                                (set runs (+ runs 1))
                                (if (< runs 3)
                                    (print (.. "backoff " (p:backoff)))
                                    (upd.stop)))
                     :on-wake (fn [p] (p:start))}))
(p:start)
(upd.after 10 #(do (print "TIMEOUT") (upd.stop)))
(upd.run)
(print (.. "runs " runs " died " (tostring (p:died?))))

;; A long-running one: stop terminates it, on-exit reports the signal.
(var q nil)
(set q (process.new ["sleep" "30"] {:on-exit (fn [_ status] (print (.. "q exit signal " (tostring status.signal))))}))
(print (.. "q start " (tostring (not= nil (q:start)))))
(print (.. "q running " (tostring (q:running?))))
(q:stop 1)
(while (q:running?) (upd.step 0.5))
(print (.. "q stopped " (tostring (not (q:running?)))))
