;; upd.path: key paths (`ra_prefixes/1/prefix`) into a tree as upd.read returns
;; it. Keys that are digits without a leading zero are integer keys there (the
;; native reader's rule, src/core/tree_api.rs), so `1` finds them too.

(fn split [path]
  (icollect [part (string.gmatch (or path "") "[^/]+")] part))

(fn numeric-key? [k]
  (or (= (type k) :number)
      (and (= (type k) :string) (not= nil (k:find "^[1-9]%d*$")))))

(fn child [tree key]
  (when (= (type tree) :table)
    (let [v (. tree key)]
      (if (not= nil v) v
          (numeric-key? key) (. tree (tonumber key))
          nil))))

(fn at-path [tree path]
  "The value or sub-table at PATH inside TREE, or nil."
  (accumulate [node tree _ part (ipairs (split path)) &until (= nil node)]
    (child node part)))

(fn items [tree]
  "A published list (keys 1, 2, ... as upd.read returns them) for ipairs:
  TREE itself when it is a table, else (absent, or a value where a list was
  expected) an empty one."
  (if (= (type tree) :table) tree []))

{: split : numeric-key? : child : at-path : items}
