;; upd.compile-cache-store: the writing half of upd.compile-cache (which
;; see), required only on a miss: the entry of a script just compiled, with
;; the files its compile read, put into its slot within the size bound.

(local {: slot-of : decode : log : read-all : magic : slots} (require :upd.compile-cache))

(fn max-bytes []
  (or (tonumber (or (os.getenv :UPD_FNL_CACHE_MAX) "")) (* 1024 1024)))

(fn encode [fields]
  (let [out [magic (tostring (os.time)) "\n"]]
    (each [_ f (ipairs fields)]
      (if f
          (do (table.insert out (.. (length f) "\n")) (table.insert out f))
          (table.insert out "-\n")))
    (table.concat out)))

(fn entry-info [path]
  "size and time of an entry file, or nil."
  (case (io.open path :rb)
    f (let [line (f:read :*l)
            size (f:seek :end)]
        (f:close)
        (values size (or (tonumber (and line (line:match "^upd%-fnl%-cache 1 (%d+)$"))) 0)))))

(fn choose-slot [dir key]
  "Of the key's two slots: the one it has already, else a free or
  unreadable one, else the older."
  (let [[a b] (icollect [_ salt (ipairs [7 13])] (slot-of key salt))
        (fa ta) (decode (read-all (.. dir "/" a)))
        (fb tb) (decode (read-all (.. dir "/" b)))]
    (if (and fa (= (. fa 1) key)) a
        (and fb (= (. fb 1) key)) b
        (not fa) a
        (not fb) b
        (<= ta tb) a
        b)))

(fn make-room! [dir keep need limit]
  "Evicts the oldest entries (but keep's slot, about to be replaced) until
  need more bytes fit within limit."
  (let [entries []]
    (var total 0)
    (for [i 0 (- slots 1)]
      (let [name (.. "slot-" i)]
        (when (not= name keep)
          (case (entry-info (.. dir "/" name))
            (size time) (do (set total (+ total size))
                            (table.insert entries {: name : size : time}))))))
    (table.sort entries #(< $1.time $2.time))
    (each [_ e (ipairs entries) &until (<= (+ total need) limit)]
      (os.remove (.. dir "/" e.name))
      (set total (- total e.size)))))

(fn store! [core dir key src lua-src deps]
  (let [fields [key src lua-src]]
    (each [_ [path content] (ipairs deps)]
      (table.insert fields path)
      (table.insert fields content))
    (let [entry (encode fields)
          limit (max-bytes)]
      (when (<= (length entry) limit)
        (let [slot (choose-slot dir key)]
          (make-room! dir slot (length entry) limit)
          (case (core.write-file (.. dir "/" slot) entry 384)
            (nil msg) (log (tostring msg))))))))

(fn recording-reads [f]
  "Calls f with io.open watched: the files opened for reading (or looked
  for and absent) with their contents, read before f reads them (a file
  changed meanwhile makes the entry stale, never wrong)."
  (let [open io.open
        deps []
        seen {}]
    (set io.open
         (fn [path mode ...]
           (when (and (= (type path) :string) (not (. seen path))
                      (or (= mode nil) (= (tostring mode) "r") (= (tostring mode) "rb")))
             (tset seen path true)
             (table.insert deps [path (or (read-all path) false)]))
           (open path mode ...)))
    (let [(ok? res) (pcall f)]
      (set io.open open)
      (values ok? res deps))))

{: recording-reads : store!}
