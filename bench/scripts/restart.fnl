;; Row 5: a daemon supervised with upd.process under upd's default policy (the
;; supervisor's: first delay 1 s, doubling to 60 s, reset by a run of 10 s or
;; more). The daemon (HELPER `daemon STAMPS`) appends "pid ns" when it starts;
;; bench/run kills it and reads the next line. Args: HELPER STAMPS.
(local upd (require :upd))
(local process (require :upd.process))

(local [helper stamps] [(. arg 1) (. arg 2)])
(assert (and helper stamps) "usage: restart.lua HELPER STAMPS")

(var p nil)
(set p (process.new [helper :daemon stamps]
                    {:initial-backoff 1 :max-backoff 60 :healthy-after 10
                     :on-exit (fn [] (p:backoff))
                     :on-wake (fn [] (assert (p:start)))}))
(assert (p:start))
(upd.run)
