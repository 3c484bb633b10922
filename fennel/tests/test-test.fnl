;; The harness checks itself: assertions that must fail do fail.
(local t (require :upd.test))
(local s (t.suite "test"))

(s:test "deep= compares nested tables both ways"
        #(do (t.is (t.deep= {:a [1 2]} {:a [1 2]}))
             (t.is (not (t.deep= {:a [1 2]} {:a [1 2 3]})))
             (t.is (not (t.deep= {:a 1 :b 2} {:a 1})))))

(s:test "is= raises on a mismatch, naming both values"
        #(t.raises #(t.is= 1 2) "expected 1, got 2"))

(s:test "raises fails when nothing was raised"
        #(let [(ok?) (pcall t.raises #nil)] (t.is (not ok?))))

(s:done)
