;; upd: the module service scripts use, `(local upd (require :upd))`.
;; A thin layer over the native `upd.core` (src/core/): it re-exports the
;; primitives under the names of docs/api.md and adds what is easier said in
;; Fennel: the service's name, and subscriptions to a sub-path of a tree.

(local core (require :upd.core))
(local {: at-path} (require :upd.path))

(fn service-name [?default]
  (or (os.getenv "UPD_SERVICE") ?default))

(fn under? [key prefix]
  (or (= key prefix)
      (= (key:sub 1 (+ (length prefix) 1)) (.. prefix "/"))
      (= (prefix:sub 1 (+ (length key) 1)) (.. key "/"))))

(fn subscribe [target handler]
  "TARGET is a service name or `service/sub/path`: the handler then sees only
  that part of the tree, and is called only when something under it changed.
  `(handler tree changed owner)`: owner is the uid that wrote the snapshot."
  (let [(name path) (target:match "^([^/]+)/?(.*)$")]
    (if (= path "")
        (core.subscribe name handler)
        (core.subscribe name
                        (fn [tree changed owner]
                          (let [mine (icollect [_ k (ipairs changed)]
                                       (when (under? k path)
                                         (if (= k path) "" (k:sub (+ (length path) 2)))))]
                            (when (or (= tree nil) (next mine))
                              (handler (and tree (at-path tree path)) mine owner))))))))

(fn publish [name tree ?opts]
  "A service the supervisor runs with `:private true` publishes privately."
  (core.publish name tree
                (or ?opts (when (= (os.getenv "UPD_PRIVATE") "1") {:private true}))))

(local upd {: service-name : subscribe : at-path : publish})

;; Everything else is the native primitive itself.
(setmetatable upd {:__index core})
