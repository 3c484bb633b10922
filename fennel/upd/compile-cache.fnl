;; upd.compile-cache: the compiled Lua of `upscript FILE.fnl` scripts, kept
;; so that a service's every start and restart does not compile it again
;; (docs/upscript.md, "Compile cache"). Used without the compiler: a hit
;; never loads it.
;;
;; An entry is one file, slot-N (N from the script's name: an edited script
;; replaces its own entry), holding what makes it valid, compared byte for
;; byte before use: the key (this binary's compiler and embedded modules,
;; the file name, FENNEL_PATH, FENNEL_MACRO_PATH), the whole source, the
;; compiled Lua, and every file the compiler opened for reading (macro
;; modules, includes) or looked for and did not find, with its contents
;; then. A chunk that does not load is a miss. Entries are written
;; atomically (upd.write-file) in a directory that is ours and nobody
;; else's (upd.private-dir); at most SLOTS of them and at most
;; UPD_FNL_CACHE_MAX bytes together, the oldest evicted first. Writing is
;; upd.compile-cache-store's, required on a miss only (the compiler is
;; loaded then anyway): a hit parses only this.

(local unpack (or table.unpack _G.unpack))

(local slots 64)
(local magic "upd-fnl-cache 1 ")

(fn log [msg]
  (io.stderr:write "upscript: compile cache " msg "\n"))

(fn read-all [path]
  (case (io.open path :rb)
    f (let [s (f:read :*a)] (f:close) s)))

(fn find-dir [core]
  (let [env (os.getenv :UPD_FNL_CACHE)
        root (pick-values 1 (: (core.root) :gsub "/+$" ""))
        dir (if (or (= env "") (= env :off)) nil
                env env
                (.. (or (root:match "^(.*)/[^/]*$") ".") "/upd-cache"))]
    (when dir
      (case (core.private-dir dir)
        true dir
        (nil msg)
        (when (or env (and (not (msg:find "owned by uid 0" 1 true))
                           (or (msg:find "owned by" 1 true) (msg:find "may write" 1 true)
                               (msg:find "not a directory" 1 true))))
          (log (.. dir " refused (" msg "): compiling without it"))
          nil)))))

(var resolved nil)

(fn cache-dir [core]
  "The cache directory to use, or nil (off, or refused: said on stderr).
  UPD_FNL_CACHE names it (empty or `off`: no cache); by default it is
  `upd-cache` beside the state root, root's (another user, who may not
  write there, compiles each time, silently)."
  (when (= nil resolved)
    (set resolved (or (find-dir core) false)))
  (or resolved nil))

(fn key-of [core filename]
  (table.concat [(core.build-id) filename (or (os.getenv :FENNEL_PATH) "")
                 (or (os.getenv :FENNEL_MACRO_PATH) "")]
                "\0"))

(fn slot-of [key salt]
  (var h salt)
  (for [i 1 (length key)]
    (set h (% (+ (* h 31) (key:byte i)) 2147483647)))
  (.. "slot-" (% h slots)))

(fn decode [s]
  "The fields of an entry (false for a file that was absent) and its time,
  or nil when it is not one."
  (let [(_ e time) (when s (s:find "^upd%-fnl%-cache 1 (%d+)\n"))
        fields []]
    (when e
      (var pos (+ e 1))
      (var ok? true)
      (while (and ok? (<= pos (length s)))
        (case (s:find "^(%-?%d*)\n" pos)
          (_ nl "-") (do (table.insert fields false) (set pos (+ nl 1)))
          (where (_ nl n) (tonumber n) (<= (+ nl (tonumber n)) (length s)))
          (do (table.insert fields (s:sub (+ nl 1) (+ nl (tonumber n))))
              (set pos (+ nl (tonumber n) 1)))
          _ (set ok? false)))
      (when (and ok? (>= (length fields) 3) (= 1 (% (length fields) 2)))
        (values fields (tonumber time))))))

(fn deps-unchanged? [fields]
  (var same? true)
  (for [i 4 (length fields) 2 &until (not same?)]
    (set same? (= (or (read-all (. fields i)) false) (. fields (+ i 1)))))
  same?)

(fn lookup [dir key src chunk-name]
  "The loaded chunk of a valid entry for key and src, or nil."
  (var chunk nil)
  (each [_ salt (ipairs [7 13]) &until chunk]
    (let [fields (decode (read-all (.. dir "/" (slot-of key salt))))]
      (when (and fields (= (. fields 1) key) (= (. fields 2) src) (deps-unchanged? fields))
        (set chunk (loadstring (. fields 3) chunk-name)))))
  chunk)

(fn install-lazy-searcher! [searcher-opts]
  "A script run from the cache has no compiler loaded: what it requires
  from fennel.path loads it then, and only then."
  (let [loaders (or package.loaders package.searchers)
        path (table.concat ["./?.fnl" "./?/init.fnl" (os.getenv :FENNEL_PATH)] ";")]
    (fn lazy [name]
      (let [file-name (pick-values 1 (name:gsub "%." "/"))]
        (var found? false)
        (each [p (path:gmatch "[^;]+") &until found?]
          (case (io.open (pick-values 1 (p:gsub "%?" file-name)))
            f (do (f:close) (set found? true))))
        (when found?
          (let [fennel (require :fennel)
                searcher (fennel.make-searcher searcher-opts)]
            (each [i f (ipairs loaders)]
              (when (= f lazy) (tset loaders i searcher)))
            (tset package.loaded :upd.launcher/fennel-installed true)
            (searcher name)))))
    (table.insert loaders 2 lazy)))

(fn load [filename src]
  "The chunk of filename's source src from the cache, or nil; and a
  function storing the compiled Lua when there was none:
  (store! compile) calls compile (src -> Lua, raising on error) and
  returns its Lua."
  (let [core (require :upd.core)
        dir (cache-dir core)
        key (when dir (key-of core filename))
        chunk-name (.. "@" filename)
        chunk (when dir (lookup dir key src chunk-name))]
    (values chunk
            (fn [compile]
              (let [{: recording-reads : store!} (require :upd.compile-cache-store)
                    (ok? lua-src deps) (recording-reads compile)]
                (when (not ok?) (error lua-src 0))
                (when (and dir (loadstring lua-src chunk-name))
                  (store! core dir key src lua-src deps))
                lua-src)))))

(fn run [exe file args]
  "upscript FILE.fnl ARGS (-e EXPR as upd.launch-fennel's) from the cache
  without loading upd.launch-fennel or the compiler: its exit code, or nil
  on a miss (upd.launch-fennel compiles and stores then)."
  (let [{: read-file : set-arg! : protect} (require :upd.launcher)
        src (read-file file)
        expr (when (or (= (. args 1) :-e) (= (. args 1) :--eval)) (. args 2))
        src (if expr (.. src "\n" expr) src)
        (ok? chunk) (pcall load file src)]
    (when (and ok? chunk)
      (install-lazy-searcher! {:keywords {} :plugins []})
      (let [args (if expr [(unpack args 3)] args)]
        (set-arg! [exe :fennel.lua] file args)
        (protect chunk (unpack args))))))

{: load : run : install-lazy-searcher! : cache-dir : decode : slot-of : log : read-all
 : magic : slots}
