;; upd.changed: publish a service's tree, logging a refused publish. The
;; native publisher leaves a tree equal to the current snapshot alone (no new
;; generation, subscribers not woken: docs/state-tree.md), so a service
;; publishes on every event that recomputes its state (netdev's counters
;; timer, pppoe's link events) and subscribers hear only of changes.

(fn publish! [name tree]
  ;; -> true when it published a new snapshot; false when the tree was
  ;; unchanged, or refused (logged; the next publish tries again)
  (let [upd (require :upd)]
    (case (upd.publish name tree)
      :unchanged false
      (nil msg) (do (upd.log :err (.. "unable to publish " name ": " msg)) false)
      _ true)))

{: publish!}
