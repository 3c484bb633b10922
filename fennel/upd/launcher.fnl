;; upd.launcher: upscript's command line, as users of `lua` and `fennel` know it.
;;   upscript fennel.lua [FLAGS] [FILE [-e EXPR]] [ARGS...]   (also `fennel`)
;;   upscript FILE.fnl [ARGS...] | FILE.lua [ARGS...] | -e LUA-CHUNK [ARGS...]
;;   upscript -m MODULE [ARGS...]   require MODULE and call its `main` with ARGS
;;   upscript upd ...   (or the binary invoked as `upd`): the supervisor and console
;;   upscript            a Fennel REPL (the serial-console use)
;; Running Lua or an embedded module never loads the Fennel compiler: it is
;; inflated only when Fennel source has to be compiled. What handles Fennel
;; (its flags, compiling, the REPL) is upd.launch-fennel, required only then:
;; a Lua script's start-up does not parse it; lua5.1's options (-e, -l, -i,
;; -v, --, -, LUA_INIT) are upd.launch-lua's, also required only then.

;; What the error path needs, taken at start: a script may assign `package`,
;; `string`, `io` or `os` (`package=nil; error("boom")`) and must still get
;; its error printed, not "error in error handling".
(local unpack (or table.unpack _G.unpack))
(local os-table os)
(local {: getenv :exit exit-at-start} os)
(local stderr io.stderr)
(local {:find str-find :gsub str-gsub :gmatch str-gmatch :sub str-sub :match str-match} string)
(local {:concat str-concat :insert tinsert} table)
(local loaded package.loaded)
(local (tostring type xpcall select) (values tostring type xpcall select))
(local debug-traceback debug.traceback)
(local version "0.1.0")
;; The one exit code for a usage error: upscript's own words, the `upd`
;; console and every service (through upd.args) exit with it. Where
;; upscript stands in for another program it exits as that one does
;; (`fennel.lua ...` as Fennel's CLI, lua5.1's options as lua5.1: 1).
(local usage-exit 2)

(fn die [msg ?code]
  ;; Under `upd run` our stderr is the supervisor's own: every line of the
  ;; error names the service, as upd.log would.
  (let [service (getenv "UPD_SERVICE")
        msg (pick-values 1 (str-gsub (tostring msg) "%s+$" ""))
        msg (if service
                (pick-values 1 (str-gsub (.. service ": " msg) "\n" (.. "\n" service ": ")))
                msg)]
    (stderr:write msg "\n"))
  ;; os.exit as it is now if still a function: upd.core wraps it to end the
  ;; script's children first (src/core/loop_api.rs).
  (let [exit (. os-table :exit)]
    ((if (= (type exit) :function) exit exit-at-start) (or ?code 1))))

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
  (let [fennel (. loaded :fennel)
        msg (if (= (type msg) :string) msg (tostring msg))
        full (if fennel (fennel.traceback msg 2) (debug-traceback msg 2))
        lines []]
    ;; Frames: the handler itself (launcher), the script's, then xpcall and
    ;; the launcher's.
    (var seen-script? false)
    (each [line (str-gmatch full "[^\n]+")
           &until (and seen-script? (str-find line "upd/launch" 1 true))]
      (if (str-find line "upd/launch" 1 true) nil
          (str-find line "^%s*%(tail call%)") nil
          (do (when (str-find line "^\t") (set seen-script? true))
              (tinsert lines line))))
    (when (str-find (. lines (length lines)) "^%s*%[C%]: in function 'xpcall'")
      (tset lines (length lines) nil))
    (str-concat lines "\n")))

(fn pack [...] (doto [...] (tset :n (select :# ...))))

(fn protect-values [f ...]
  "f's results, packed; a runtime error prints a traceback and exits 1."
  (let [args (pack ...)
        res (pack (xpcall #(f (unpack args 1 args.n)) traceback))]
    (when (not (. res 1))
      (die (. res 2)))
    res))

(fn protect [f ...]
  "Calls f with the given arguments; a runtime error prints a traceback and exits 1."
  (protect-values f ...)
  0)

(fn read-file [path]
  (case (if (= path "-") io.stdin (io.open path :rb))
    f (let [src (f:read :*a)] (when (not= f io.stdin) (f:close)) src)
    (nil err) (die (.. "upscript: cannot open " path ": "
                       (or (err:match ": (.*)$") err)))))

(fn lua-chunk [src name]
  (case (loadstring src name)
    f f
    (nil err) (die err)))

(fn lua-file-chunk [file]
  ;; As lua's loadfile: a first line starting with # (#!/usr/bin/lua) is
  ;; skipped, its newline kept so that line numbers stay; what follows may be
  ;; a precompiled chunk (string.dump), which starts with ESC and gets no
  ;; extra newline.
  (let [src (read-file file)
        body (if (= (str-sub src 1 1) "#") (or (str-match src "^[^\n]*\n(.*)$") "") src)
        src (if (= (str-sub body 1 1) (string.char 27)) body
                (not= body src) (.. "\n" body)
                src)]
    (lua-chunk src (if (= file "-") "=stdin" (.. "@" file)))))

(fn run-lua-file [pre file args]
  "Runs a Lua file as lua does: `arg` set (pre: the words before the script),
  args as `...`. xpcall is called from here, not through protect: below the
  script's main chunk only four frames, so that debug.traceback's window
  (its last ten levels) still shows the script's own frames."
  (set-arg! pre file args)
  (let [chunk (lua-file-chunk file)
        n (length args)
        (ok? err) (xpcall #(chunk (unpack args 1 n)) traceback)]
    (if ok? 0 (die err))))

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

(fn distribution-paths! []
  ;; Where Debian (and OpenWrt) install Lua modules; lua5.1 looks there too.
  ;; Not when LUA_PATH replaces the default (no ";;" in it).
  (let [env (getenv :LUA_PATH)]
    (when (and (or (= env nil) (str-find env ";;" 1 true))
               (not (str-find package.path "/usr/share/lua/5.1/" 1 true)))
      (set package.path (.. package.path ";/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua")))))

(fn main [mode exe words]
  (distribution-paths!)
  (let [first (. words 1)
        rest [(unpack words 2)]]
    (if (= mode :upd) (upd-main exe words)
        (= nil first) (fennel :repl-main)
        (fennel-word? first) (fennel :fennel-main exe rest first)
        (= first :upd) (upd-main exe rest)
        (= first :-m) (if (. words 2)
                          (module-main exe (. words 2) [(unpack words 3)])
                          (die "upscript: -m needs a module name" usage-exit))
        (= first :--help) (fennel :help)
        (= first :--version) (do (print (.. "upscript " version " (" _VERSION ")")) 0)
        ;; A script compiled before runs from the compile cache.
        (first:match "%.fnl$") (or ((. (require :upd.compile-cache) :run) exe first rest)
                                   (fennel :fennel-main exe words))
        ;; The common case, a service's or a test's, without parsing options.
        (and (first:match "%.lua$") (not (getenv :LUA_INIT))) (run-lua-file exe first rest)
        ((. (require :upd.launch-lua) :lua-main) exe words))))

{: main : version : usage-exit : die : set-arg! : protect : protect-values : pack : traceback
 : read-file : lua-chunk : lua-file-chunk : run-lua-file}
