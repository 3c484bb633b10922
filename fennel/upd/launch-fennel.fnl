;; upd.launch-fennel: the Fennel half of upscript's command line (see
;; upd.launcher, which requires this only when Fennel is involved):
;;   upscript fennel.lua [FLAGS] [FILE [-e EXPR]] [ARGS...]
;; its flags, compiling FILE or EXPR at start, --compile, and the REPL.

(local unpack (or table.unpack _G.unpack))
(local {: version : die : set-arg! : protect : protect-values : read-file
        : lua-chunk}
       (require :upd.launcher))

(local usage "Usage: upscript fennel.lua [FLAG...] [COMMAND | FILE [-e EXPR]] [ARGS...]
       upscript FILE.fnl [ARGS...]   (compiled once: UPD_FNL_CACHE, docs/upscript.md)
       upscript [LUA-OPTIONS] [FILE.lua|FILE|-] [ARGS...]  (as lua5.1: -e, -l, -i, -v, --, -)
       upscript -m MODULE [ARGS...]  (require MODULE, call its main with ARGS)
       upscript upd COMMAND ...      (see `upd help`)
       upscript                      (a Fennel REPL)

Commands, as Fennel 1.5.3's launcher (after fennel.lua):
  --repl                    start a REPL
  --compile, -c FILES       print FILES compiled to Lua (- is stdin)
  --eval, -e SOURCE         evaluate SOURCE (- is stdin) and print its values
  -                         evaluate stdin
  FILE [-e EXPR] ARGS       run FILE; EXPR, if given, after it, seeing its locals
  --version, -v             print versions
  --help, -h                this text
Flags:
  --add-fennel-path PATH    prepend PATH (e.g. ./?.fnl) to fennel.path
  --add-package-path PATH   prepend PATH to package.path
  --add-package-cpath PATH  prepend PATH to package.cpath
  --add-macro-path PATH     prepend PATH to fennel.macro-path
  --load, -l FILE           run the Fennel FILE first
  --globals G1[,G2...]      allow these globals besides those of _G (* for any)
  --globals-only G1[,G2..]  allow only these globals
  --correlate               keep Lua line numbers equal to Fennel's
  --require-as-include      inline required modules in the output
  --skip-include M1[,M2]    but not these
  --metadata, --no-metadata function metadata (docstrings) on or off
  --plugin FILE             activate the compiler plugin in FILE
  --no-searcher             no package.loaders entry for fennel.path
  --no-compiler-sandbox     macros see _G
  --raw-errors              compile errors without the friendly hints
  --assert-as-repl, --use-bit-lib, --indent X, --keywords K1[,K2],
  --no-fennelrc             as Fennel's
  --lua LUA_EXE             run in a child process with LUA_EXE (anywhere)
Left out: --compile-binary (needs a C compiler and liblua, which a router
has not; the binary is already one).
")

(fn help []
  (io.write usage)
  0)

(fn split-commas [s]
  (icollect [g (s:gmatch "[^,]+")] g))

(fn copy [t] (collect [k v (pairs t)] k v))

(fn compile [fennel src opts]
  "Fennel source -> Lua source; a compile error is FILE:LINE:COL: message, exit 1."
  (case (pcall fennel.compile-string src opts)
    (true lua-src) lua-src
    (false err) (die (tostring err))))

(fn fennel-options [flags]
  (let [opts (copy flags.opts)]
    (set opts.error-pinpoint false)
    (if (= (. flags.globals 1) "*") (set opts.allowedGlobals false)
        flags.globals-only (set opts.allowedGlobals flags.globals-only)
        (let [allowed (icollect [k (pairs _G)] k)]
          (each [_ g (ipairs flags.globals)] (table.insert allowed g))
          (table.insert allowed :arg)
          (set opts.allowedGlobals allowed)))
    opts))

(fn install-fennel! [searcher-opts]
  (let [fennel (require :fennel)
        loaders (or package.loaders package.searchers)]
    ;; Files on fennel.path come before the embedded copies, so that source
    ;; being edited wins over what the binary was built with.
    (when (and searcher-opts (not (. package.loaded :upd.launcher/fennel-installed)))
      (table.insert loaders 2 (fennel.make-searcher searcher-opts))
      (tset package.loaded :upd.launcher/fennel-installed true))
    fennel))

(fn fennel-chunk [fennel src filename opts]
  (let [o (copy opts)]
    (set o.filename filename)
    (lua-chunk (compile fennel src o) (.. "@" filename))))

(fn cacheable? [fennel-word flags]
  "`upscript FILE.fnl` (what `upd run` starts), which has no flags."
  (and (not fennel-word) (= nil (next flags.actions)) (= nil (next flags.globals))
       (not flags.globals-only) (not flags.no-searcher) (= nil (next flags.fennel-paths))
       (= nil (next flags.macro-paths)) (= nil (next flags.opts.plugins))
       (= nil (next flags.opts.keywords))
       (accumulate [plain? true k (pairs flags.opts)]
         (and plain? (or (= k :keywords) (= k :plugins))))))

(fn run-cached [flags pre file args]
  "Runs FILE (its source with -e EXPR, if given, as in fennel-main) from the
  compile cache, compiling and storing it on a miss. Compiled with
  `correlate`: a run from the cache has no source map, and its error lines
  are still FILE's."
  (let [src (read-file file)
        expr (when (or (= (. args 1) :-e) (= (. args 1) :--eval)) (. args 2))
        args (if expr [(unpack args 3)] args)
        src (if expr (.. src "\n" expr) src)
        cache (require :upd.compile-cache)
        ;; The cache never fails the script: trouble in it is a miss.
        (ok? chunk store!) (pcall cache.load file src)
        chunk (when ok? chunk)
        store! (if ok? store! #($))
        chunk (or chunk
                  (let [fennel (install-fennel! (copy flags.opts))
                        o (fennel-options flags)]
                    (set o.filename file)
                    (set o.correlate true)
                    (case (pcall store! #(fennel.compile-string src o))
                      (true lua-src) (lua-chunk lua-src (.. "@" file))
                      (false err) (die (tostring err)))))]
    (when (not (. package.loaded :upd.launcher/fennel-installed))
      (cache.install-lazy-searcher! (copy flags.opts)))
    (set-arg! pre file args)
    (protect chunk (unpack args))))

(fn repl [fennel opts]
  (let [o (copy opts)]
    (set o.allowedGlobals nil)
    (fennel.repl o)
    0))

(fn load-plugin [fennel filename]
  (let [opts {:compiler-env _G :env :_COMPILER :useMetadata true}]
    (if (= ".lua" (filename:sub -4))
        (let [specials (require :fennel.specials)]
          ((fennel.load-code (read-file filename)
                             (specials.make-compiler-env nil (fennel.scope) nil opts)
                             filename)))
        (fennel.dofile filename opts))))

(local commands {:--repl true :--compile true :-c true :--eval true :-e true
                 :--help true :-h true :--version true :-v true :- true})

(fn parse-fennel-flags [words]
  "Fennel 1.5.3's reading: flags anywhere before the first word that is
  neither a flag nor a command (the file, or a command's argument); the
  words left are the command. Flags that act in order (--load, --plugin)
  are kept, in order, in flags.actions."
  (let [flags {:globals [] :fennel-paths [] :package-paths [] :cpaths [] :macro-paths []
               :actions [] :opts {:keywords {} :plugins []} :rest []}
        opts flags.opts]
    (var i 1)
    (var options? true)
    (fn take []
      (set i (+ i 1))
      (or (. words i) (die (.. "upscript: " (. words (- i 1)) " needs an argument"))))
    (while (. words i)
      (let [w (. words i)]
        (if (not options?) (table.insert flags.rest w)
            (case w
              :--add-fennel-path (table.insert flags.fennel-paths (take))
              :--add-package-path (table.insert flags.package-paths (take))
              :--add-package-cpath (table.insert flags.cpaths (take))
              :--add-macro-path (table.insert flags.macro-paths (take))
              :--globals (each [_ g (ipairs (split-commas (take)))] (table.insert flags.globals g))
              :--globals-only (set flags.globals-only (split-commas (take)))
              :--correlate (set opts.correlate true)
              (where (or :--load :-l)) (table.insert flags.actions [:load (take)])
              :--plugin (table.insert flags.actions [:plugin (take)])
              :--no-searcher (set flags.no-searcher true)
              :--no-fennelrc (set flags.no-fennelrc true)
              :--require-as-include (set opts.requireAsInclude true)
              :--skip-include (set opts.skipInclude (split-commas (take)))
              :--assert-as-repl (set opts.assertAsRepl true)
              :--use-bit-lib (set opts.useBitLib true)
              :--metadata (set opts.useMetadata true)
              :--no-metadata (set opts.useMetadata false)
              :--no-compiler-sandbox (set opts.compiler-env _G)
              :--raw-errors (set opts.unfriendly true)
              :--indent (let [v (take)] (set opts.indent (if (= v :false) false v)))
              :--keywords (each [_ k (ipairs (split-commas (take)))] (tset opts.keywords k true))
              :--compile-binary
              (die (.. "upscript: " w " is left out (it needs a C compiler and liblua; see --help)"))
              _ (if (. commands w)
                    (table.insert flags.rest w)
                    (and (= (w:sub 1 2) "--") (not= w "--") (not (. flags.rest 1)))
                    (die (.. "upscript: unknown flag " w " (try --help)"))
                    (do (table.insert flags.rest (if (and (= w "--") (not (. flags.rest 1))) (take) w))
                        (set options? false)))))
        (set i (+ i 1))))
    flags))

(fn sh-quote [w] (.. "'" (pick-values 1 (w:gsub "'" "'\\''")) "'"))

(fn run-with-lua! [fennel-word words]
  "--lua LUA_EXE, anywhere, as Fennel's launcher: the same command line,
  without it, run by LUA_EXE (which then needs the `fennel` script); exit 0
  or 1 as the child did."
  (for [i (length words) 1 -1]
    (when (= (. words i) :--lua)
      (let [lua-exe (or (. words (+ i 1)) (die "upscript: --lua needs an argument"))]
        (table.remove words i)
        (table.remove words i)
        (let [cmd [lua-exe (sh-quote fennel-word)]]
          (each [_ w (ipairs words)] (table.insert cmd (sh-quote w)))
          (let [(a b) (os.execute (table.concat cmd " "))]
            (os.exit (if (or (= a 0) (and (= a true) (= b :exit))) 0 1))))))))

(fn fennel-main [exe words fennel-word]
  (run-with-lua! (or fennel-word :fennel) words)
  (let [flags (parse-fennel-flags words)
        pre [exe :fennel.lua]
        [command & args] flags.rest]
    (each [_ p (ipairs flags.fennel-paths)] (table.insert pre :--add-fennel-path) (table.insert pre p))
    (each [_ p (ipairs flags.package-paths)] (table.insert pre :--add-package-path) (table.insert pre p))
    (each [_ p (ipairs flags.macro-paths)] (table.insert pre :--add-macro-path) (table.insert pre p))
    (if (or (= command :--help) (= command :-h)) (help)
        (and command (not (. commands command)) (cacheable? fennel-word flags))
        (run-cached flags pre command args)
        (let [opts (fennel-options flags)
              fennel (install-fennel! (when (not flags.no-searcher) (copy flags.opts)))]
          (each [_ p (ipairs flags.fennel-paths)]
            (set fennel.path (.. p ";" fennel.path)))
          (each [_ p (ipairs flags.package-paths)]
            (set package.path (.. p ";" package.path)))
          (each [_ p (ipairs flags.cpaths)]
            (set package.cpath (.. p ";" package.cpath)))
          (each [_ p (ipairs flags.macro-paths)]
            (tset fennel :macro-path (.. p ";" (. fennel :macro-path))))
          (each [_ [what file] (ipairs flags.actions)]
            (if (= what :load)
                (protect #(fennel.dofile file (copy opts)))
                (table.insert opts.plugins 1 (. (protect-values load-plugin fennel file) 2))))
          (case command
            (where (or :--version :-v))
            (do (print (.. "upscript " version " (Fennel " fennel.version ", " _VERSION ")"))
                0)
            (where (or :--compile :-c))
            (do (each [_ file (ipairs args)]
                  (let [o (copy opts)]
                    (set o.filename file)
                    (print (compile fennel (read-file file) o))))
                0)
            (where (or :--eval :-e))
            (let [src (or (. args 1) (die (.. "upscript: " command " needs an argument")))
                  src (if (= src "-") (io.stdin:read :*a) src)
                  ;; arg as Fennel's: the words left after the flags.
                  _ (set-arg! [exe] (or fennel-word :fennel) flags.rest)
                  res (protect-values (fennel-chunk fennel src "-e" opts))]
              (print (unpack res 2 res.n))
              0)
            :- (do (set-arg! pre "-" args)
                   (protect (fennel-chunk fennel (io.stdin:read :*a) "stdin" opts)))
            :--repl (repl fennel opts)
            nil (repl fennel opts)
            file
            (let [src (read-file file)
                  ;; upscript's own: FILE -e EXPR, EXPR compiled together
                  ;; with FILE so that it sees FILE's top-level locals
                  ;; (`main`); FILE's line numbers are unchanged.
                  expr (when (or (= (. args 1) :-e) (= (. args 1) :--eval)) (. args 2))
                  args (if expr [(unpack args 3)] args)]
              (set-arg! pre file args)
              (protect (fennel-chunk fennel (if expr (.. src "\n" expr) src) file opts)
                       (unpack args))))))))

(fn repl-main []
  (repl (install-fennel! {}) {}))

{: fennel-main : repl-main : help : parse-fennel-flags}
