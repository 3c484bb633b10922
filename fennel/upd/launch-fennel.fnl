;; upd.launch-fennel: the Fennel half of upscript's command line (see
;; upd.launcher, which requires this only when Fennel is involved):
;;   upscript fennel.lua [FLAGS] [FILE [-e EXPR]] [ARGS...]
;; its flags, compiling FILE or EXPR at start, --compile, and the REPL.

(local unpack (or table.unpack _G.unpack))
(local {: version : usage-exit : die : set-arg! : protect : read-file : lua-chunk} (require :upd.launcher))

(local usage "Usage: upscript fennel.lua [FLAGS] [FILE [-e EXPR]] [ARGS...]
       upscript FILE.fnl|FILE.lua [ARGS...]
       upscript -e LUA-CHUNK [ARGS...]
       upscript -m MODULE [ARGS...]
       upscript upd COMMAND ...      (see `upd help`)
       upscript                      (a Fennel REPL)

Fennel flags (after fennel.lua):
  --add-fennel-path PATH    prepend PATH (e.g. ./?.fnl) to fennel.path
  --add-package-path PATH   prepend PATH to package.path
  --add-macro-path PATH     prepend PATH to fennel.macro-path
  --globals G1[,G2...]      allow these globals besides those of _G
  --globals-only G1[,G2..]  allow only these globals
  --correlate               keep Lua line numbers equal to Fennel's
  -e, --eval EXPR           evaluate EXPR (after FILE, seeing its definitions)
  --compile FILE            print FILE compiled to Lua
  --repl                    start a REPL
  --version, -v             print versions
  --help, -h                this text
")

(fn help []
  (io.write usage)
  0)

(fn split-commas [s]
  (icollect [g (s:gmatch "[^,]+")] g))

(fn compile [fennel src opts]
  "Fennel source -> Lua source; a compile error is FILE:LINE:COL: message, exit 1."
  (case (pcall fennel.compile-string src opts)
    (true lua-src) lua-src
    (false err) (die (tostring err))))

(fn fennel-options [flags]
  (let [opts {:error-pinpoint false :correlate flags.correlate}]
    (if flags.globals-only
        (set opts.allowedGlobals flags.globals-only)
        (let [allowed (icollect [k (pairs _G)] k)]
          (each [_ g (ipairs flags.globals)] (table.insert allowed g))
          (table.insert allowed :arg)
          (set opts.allowedGlobals allowed)))
    opts))

(fn install-fennel! []
  (let [fennel (require :fennel)
        loaders (or package.loaders package.searchers)]
    ;; Files on fennel.path come before the embedded copies, so that source
    ;; being edited wins over what the binary was built with.
    (when (not (. package.loaded :upd.launcher/fennel-installed))
      (table.insert loaders 2 fennel.searcher)
      (tset package.loaded :upd.launcher/fennel-installed true))
    fennel))

(fn eval-fennel [fennel src filename opts args]
  (let [o (collect [k v (pairs opts)] k v)]
    (set o.filename filename)
    (let [lua-src (compile fennel src o)
          chunk (lua-chunk lua-src (.. "@" filename))]
      (protect chunk (unpack args)))))

(fn repl [fennel opts]
  (let [o (collect [k v (pairs opts)] k v)]
    (set o.allowedGlobals nil)
    (fennel.repl o)
    0))

(fn parse-fennel-flags [words]
  "Splits `[FLAGS] [FILE [-e EXPR]] [ARGS...]`."
  (let [flags {:globals [] :fennel-paths [] :package-paths [] :macro-paths []}]
    (var i 1)
    (var done? false)
    (fn take []
      (set i (+ i 1))
      (or (. words i) (die (.. "upscript: " (. words (- i 1)) " needs an argument") usage-exit)))
    (while (and (not done?) (<= i (length words)))
      (let [w (. words i)]
        (case w
          :--add-fennel-path (table.insert flags.fennel-paths (take))
          :--add-package-path (table.insert flags.package-paths (take))
          :--add-macro-path (table.insert flags.macro-paths (take))
          :--globals (each [_ g (ipairs (split-commas (take)))] (table.insert flags.globals g))
          :--globals-only (set flags.globals-only (split-commas (take)))
          :--correlate (set flags.correlate true)
          (where (or :-e :--eval)) (set flags.eval (take))
          :--compile (set flags.compile (take))
          :--repl (set flags.repl true)
          (where (or :--help :-h)) (set flags.help true)
          (where (or :--version :-v)) (set flags.version true)
          _ (if (and (= (w:sub 1 2) "--") (not= w "--"))
                (die (.. "upscript: unknown flag " w " (try --help)") usage-exit)
                (do
                  (set flags.file (if (= w "--") (. words (+ i 1)) w))
                  (when (= w "--") (set i (+ i 1)))
                  (set done? true))))
        (set i (+ i 1))))
    (when (and flags.file (or (= (. words i) :-e) (= (. words i) :--eval)))
      (set flags.eval (. words (+ i 1)))
      (set i (+ i 2)))
    (set flags.args [(unpack words i)])
    flags))

(fn fennel-main [exe words]
  (let [flags (parse-fennel-flags words)
        pre [exe :fennel.lua]]
    (each [_ p (ipairs flags.fennel-paths)] (table.insert pre :--add-fennel-path) (table.insert pre p))
    (each [_ p (ipairs flags.package-paths)] (table.insert pre :--add-package-path) (table.insert pre p))
    (each [_ p (ipairs flags.macro-paths)] (table.insert pre :--add-macro-path) (table.insert pre p))
    (if flags.help (help)
        flags.version (let [fennel (require :fennel)]
                        (print (.. "upscript " version " (Fennel " fennel.version ", "
                                   _VERSION ")"))
                        0)
        (let [fennel (install-fennel!)
              opts (fennel-options flags)]
          (each [_ p (ipairs flags.fennel-paths)]
            (set fennel.path (.. p ";" fennel.path)))
          (each [_ p (ipairs flags.package-paths)]
            (set package.path (.. p ";" package.path)))
          (each [_ p (ipairs flags.macro-paths)]
            (tset fennel :macro-path (.. p ";" (. fennel :macro-path))))
          (if flags.compile
              (let [o (collect [k v (pairs opts)] k v)]
                (set o.filename flags.compile)
                (print (compile fennel (read-file flags.compile) o))
                0)
              flags.file
              (let [src (read-file flags.file)]
                (set-arg! pre flags.file flags.args)
                ;; EXPR is compiled together with FILE so that it sees FILE's
                ;; top-level locals (`main`); FILE's line numbers are unchanged.
                (eval-fennel fennel (if flags.eval (.. src "\n" flags.eval) src)
                             flags.file opts flags.args))
              flags.eval
              (do (set-arg! pre "-e" flags.args)
                  (eval-fennel fennel flags.eval "-e" opts flags.args))
              (repl fennel opts))))))

(fn repl-main []
  (repl (install-fennel!) {}))

{: fennel-main : repl-main : help : parse-fennel-flags}
