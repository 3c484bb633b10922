;; upd.launcher: upscript's command line, as users of `lua` and `fennel` know it.
;;   upscript fennel.lua [FLAGS] [FILE [-e EXPR]] [ARGS...]   (also `fennel`)
;;   upscript FILE.fnl [ARGS...] | FILE.lua [ARGS...] | -e LUA-CHUNK [ARGS...]
;;   upscript -m MODULE [ARGS...]   require MODULE and call its `main` with ARGS
;;   upscript upd ...   (or the binary invoked as `upd`): the supervisor and console
;;   upscript            a Fennel REPL (the serial-console use)
;; Running Lua or an embedded module never loads the Fennel compiler: it is
;; inflated only when Fennel source has to be compiled. What handles Fennel
;; (its flags, compiling, the REPL) is upd.launch-fennel, required only then:
;; a Lua script's start-up does not parse it.

(local unpack (or table.unpack _G.unpack))
(local version "0.1.0")
;; The one exit code for a usage error: upscript's own words, the `upd`
;; console and every service (through upd.args) exit with it.
(local usage-exit 2)

(fn die [msg ?code]
  ;; Under `upd run` our stderr is the supervisor's own: every line of the
  ;; error names the service, as upd.log would.
  (let [service (os.getenv "UPD_SERVICE")
        msg (pick-values 1 (: (tostring msg) :gsub "%s+$" ""))
        msg (if service
                (pick-values 1 (: (.. service ": " msg) :gsub "\n" (.. "\n" service ": ")))
                msg)]
    (io.stderr:write msg "\n"))
  (os.exit (or ?code 1)))

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
           &until (and seen-script? (line:find "upd/launch" 1 true))]
      (if (line:find "upd/launch" 1 true) nil
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

(fn fennel [f ...]
  ((. (require :upd.launch-fennel) f) ...))

(fn main [mode exe words]
  (let [first (. words 1)
        rest [(unpack words 2)]]
    (if (= mode :upd) (upd-main exe words)
        (= nil first) (fennel :repl-main)
        (fennel-word? first) (fennel :fennel-main exe rest)
        (= first :upd) (upd-main exe rest)
        (= first :-m) (if (. words 2)
                          (module-main exe (. words 2) [(unpack words 3)])
                          (die "upscript: -m needs a module name" usage-exit))
        (= first :-e) (if (. words 2)
                          (do (set-arg! exe "-e" [(unpack words 3)])
                              (protect (lua-chunk (. words 2) "=(command line)")
                                       (unpack words 3)))
                          (die "upscript: -e needs a chunk" usage-exit))
        (or (= first :--help) (= first :-h)) (fennel :help)
        (or (= first :--version) (= first :-v)) (do (print (.. "upscript " version " (" _VERSION ")")) 0)
        (first:match "%.lua$") (run-lua-file exe first rest)
        (first:match "%.fnl$") (fennel :fennel-main exe words)
        (die (.. "upscript: do not know how to run " first
                 " (expected FILE.fnl, FILE.lua, fennel.lua, -m MODULE, -e CHUNK; try --help)")
             usage-exit))))

{: main : version : usage-exit : die : set-arg! : protect : read-file : lua-chunk}
