;; upd.path follows the native reader's rule for integer keys.
(local t (require :upd.test))
(local path (require :upd.path))
(local s (t.suite "path"))

(s:test "digit keys without a leading zero reach integer keys; others do not"
        #(let [tree {:rdnss ["a" "b"] :x {"01" "zero-one"}}]
           (t.is= "b" (path.at-path tree "rdnss/2"))
           (t.is= "zero-one" (path.at-path tree "x/01"))
           (t.is= nil (path.at-path {:y ["first"]} "y/01"))
           (t.is= nil (path.at-path tree "rdnss/2/deeper"))
           (t.is= tree (path.at-path tree ""))))

(s:done)
