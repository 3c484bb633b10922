;; upd.changed: publish a service's tree only when it differs from the one it
;; published last, so that subscribers are woken for a change and not for
;; every event that recomputes the same snapshot (netdev's counters timer,
;; pppoe's link events). The one copy of this rule: services call
;; (changed.publish! s name tree) with their state table `s`, which keeps the
;; text of the last tree published in s.published-text.

(fn tree->text [tree ?prefix ?out]
  ;; a canonical text of a tree: sorted key=value lines
  (let [out (or ?out [])]
    (each [k v (pairs tree)]
      (let [key (.. (or ?prefix "") (tostring k))]
        (if (= (type v) :table) (tree->text v (.. key "/") out)
            (table.insert out (.. key "=" (tostring v))))))
    (when (= nil ?prefix) (table.sort out))
    (if ?prefix out (table.concat out "\n"))))

(fn publish! [s name tree]
  ;; -> true when it published; logs a refused publish (and tries it again
  ;; next time: the text is remembered only once published)
  (let [upd (require :upd)
        text (tree->text tree)]
    (when (not= text s.published-text)
      (case (upd.publish name tree)
        (nil msg) (do (upd.log :err (.. "unable to publish " name ": " msg)) false)
        _ (do (set s.published-text text) true)))))

{: publish! : tree->text}
