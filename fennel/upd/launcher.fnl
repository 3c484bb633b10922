;; upd.launcher: upscript's command line, as users of `lua` and `fennel` know it.
;;   upscript fennel.lua [FLAGS] [FILE [-e EXPR]] [ARGS...]   (also `fennel`)
;;   upscript FILE.fnl [ARGS...] | FILE.lua [ARGS...] | -e LUA-CHUNK [ARGS...]
;;   upscript -m MODULE [ARGS...]   require MODULE and call its `main` with ARGS
;;   upscript upd ...   (or the binary invoked as `upd`): the supervisor and console
;;   upscript            a Fennel REPL (the serial-console use)
;; Running Lua or an embedded module never loads the Fennel compiler: it is
;; inflated only when Fennel source has to be compiled.

(local unpack (or table.unpack _G.unpack))
(local version "0.1.0")

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

(fn die [msg]
  ;; Under `upd run` our stderr is the supervisor's own: every line of the
  ;; error names the service, as upd.log would.
  (let [service (os.getenv "UPD_SERVICE")
        msg (pick-values 1 (: (tostring msg) :gsub "%s+$" ""))
        msg (if service
                (pick-values 1 (: (.. service ": " msg) :gsub "\n" (.. "\n" service ": ")))
                msg)]
    (io.stderr:write msg "\n"))
  (os.exit 1))

(fn set-arg! [pre script args]
  "arg as lua and fennel set it: arg[0] the script, arg[1..] its arguments,
  arg[-n..-1] the interpreter words before it (a test runner re-runs them)."
  (let [pre (if (= (type pre) :table) pre [pre])
        a {0 script}]
    (each [i v (ipairs pre)] (tset a (- i (length pre) 1) v))
    (each [i v (ipairs args)] (tset a i v))
    (set _G.arg a)
    a))

(fn traceback [msg]
  "The error and the frames of the script itself, with Fennel lines where the
  compiler has a source map; the launcher's own frames are left out."
  (let [fennel (. package.loaded :fennel)
        msg (if (= (type msg) :string) msg (tostring msg))
        full (if fennel (fennel.traceback msg 2) (debug.traceback msg 2))
        lines []]
    ;; Frames: the handler itself (launcher), the script's, then the launcher's.
    (var seen-script? false)
    (each [line (full:gmatch "[^\n]+")
           &until (and seen-script? (line:find "upd/launcher.fnl" 1 true))]
      (if (line:find "upd/launcher.fnl" 1 true) nil
          (line:find "^%s*%(tail call%)") nil
          (do (when (line:find "^\t") (set seen-script? true))
              (table.insert lines line))))
    (table.concat lines "\n")))

(fn protect [f ...]
  "Calls f with the given arguments; a runtime error prints a traceback and exits 1."
  (let [args [...]
        n (select :# ...)
        (ok? err) (xpcall #(f (unpack args 1 n)) traceback)]
    (when (not ok?)
      (die err))
    0))

(fn read-file [path]
  (case (io.open path :rb)
    f (let [src (f:read :*a)] (f:close) src)
    (nil err) (die (.. "upscript: cannot open " path ": "
                       (or (err:match ": (.*)$") err)))))

(fn lua-chunk [src name]
  (case (loadstring src name)
    f f
    (nil err) (die err)))

(fn run-lua-file [exe file args]
  (set-arg! exe file args)
  (protect (lua-chunk (read-file file) (.. "@" file)) (unpack args)))

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
      (or (. words i) (die (.. "upscript: " (. words (- i 1)) " needs an argument"))))
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
                (die (.. "upscript: unknown flag " w " (try --help)"))
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
    (if flags.help (do (io.write usage) 0)
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

(fn module-main [exe name args]
  (set-arg! exe name args)
  (protect #(let [m (require name)
                  main (and (= (type m) :table) m.main)]
              (if main
                  (main args)
                  (error (.. "module " name " has no main function") 0)))))

(fn upd-main [exe args]
  (set-arg! exe :upd args)
  (var code 0)
  (protect #(set code (or ((. (require :upd.cli) :main) args) 0)))
  code)

(fn fennel-word? [w]
  (or (= w :fennel.lua) (= w :fennel) (w:match "/fennel%.lua$")))

(fn main [mode exe words]
  (let [first (. words 1)
        rest [(unpack words 2)]]
    (if (= mode :upd) (upd-main exe words)
        (= nil first) (repl (install-fennel!) {})
        (fennel-word? first) (fennel-main exe rest)
        (= first :upd) (upd-main exe rest)
        (= first :-m) (if (. words 2)
                          (module-main exe (. words 2) [(unpack words 3)])
                          (die "upscript: -m needs a module name"))
        (= first :-e) (if (. words 2)
                          (do (set-arg! exe "-e" [(unpack words 3)])
                              (protect (lua-chunk (. words 2) "=(command line)")
                                       (unpack words 3)))
                          (die "upscript: -e needs a chunk"))
        (or (= first :--help) (= first :-h)) (do (io.write usage) 0)
        (or (= first :--version) (= first :-v)) (do (print (.. "upscript " version " (" _VERSION ")")) 0)
        (first:match "%.lua$") (run-lua-file exe first rest)
        (first:match "%.fnl$") (fennel-main exe words)
        (die (.. "upscript: do not know how to run " first
                 " (expected FILE.fnl, FILE.lua, fennel.lua, -m MODULE, -e CHUNK; try --help)")))))

{: main : parse-fennel-flags}
