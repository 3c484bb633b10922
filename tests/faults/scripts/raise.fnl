;; Fault-injection service: raises at start, on line 4.
(local upd (require :upd))
(upd.publish (upd.service-name "raise") {:about-to :raise})
(error "fault-injection: raised at start")
