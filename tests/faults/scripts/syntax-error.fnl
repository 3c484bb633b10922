;; Fault-injection service: a Fennel syntax error on line 4 (a stray closing bracket).
(local upd (require :upd))

(local x ])
(upd.run)
