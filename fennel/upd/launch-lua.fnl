;; upd.launch-lua: lua5.1's command line (see upd.launcher, which requires
;; this only for options, LUA_INIT or a script not named *.lua; a service's
;; `upscript FILE.lua` does not keep it in memory):
;;   upscript [-e STAT] [-l MOD] [-i] [-v] [--] [SCRIPT|-] [ARGS...]

(local unpack (or table.unpack _G.unpack))
(local {: version : protect : pack : traceback : lua-chunk : lua-file-chunk : run-lua-file}
       (require :upd.launcher))
(local {: getenv : exit} os)
(local stderr io.stderr)

(fn lua-repl []
  "lua -i: reads a line, runs it (or `return` it, to print its values)."
  (var done? false)
  (while (not done?)
    (io.stdout:write "> ")
    (io.stdout:flush)
    (case (io.stdin:read :*l)
      line (case (or (loadstring (.. "return " line) "=stdin") (loadstring line "=stdin"))
             f (let [res (pack (xpcall f traceback))]
                 (if (not (. res 1)) (stderr:write (tostring (. res 2)) "\n")
                     (> res.n 1) (print (unpack res 2 res.n))))
             (nil err) (stderr:write err "\n"))
      nil (set done? true)))
  (io.stdout:write "\n")
  0)

(local lua-usage "usage: upscript [options] [script [args]].
Available options are:
  -e stat  execute string 'stat'
  -l name  require library 'name'
  -i       enter interactive mode after executing 'script'
  -v       show version information
  --       stop handling options
  -        execute stdin and stop handling options
(and: upscript fennel.lua ..., upscript FILE.fnl, upscript -m MODULE,
 upscript upd ...; upscript --help says all)
")

(fn lua-version []
  (print (.. "upscript " version " (" _VERSION ")")))

(fn lua-main [exe words]
  "lua5.1's command line: options run in order (-e, -l, -v, -i, --, -), then
  the script, if any, with the words after it as its arguments."
  (case (getenv :LUA_INIT)
    init (protect (if (= (string.sub init 1 1) "@")
                      (lua-file-chunk (string.sub init 2))
                      (lua-chunk init "=LUA_INIT"))))
  ;; As lua: the version first, whatever -e prints.
  (var j 1)
  (while (let [w (. words j)] (and w (not= w :--) (= (string.sub w 1 1) "-")))
    (when (= (. words j) :-v) (lua-version) (set j (length words)))
    (set j (+ j (if (or (= (. words j) :-e) (= (. words j) :-l)) 2 1))))
  (var i 1)
  (var script nil)
  (var (interactive? ran?) (values false false))
  (while (and (not script) (. words i))
    (let [w (. words i)]
      (if (or (= w :-e) (= w :-l))
          (let [v (. words (+ i 1))]
            (when (not v)
              (stderr:write lua-usage)
              (exit 1))
            (set ran? true)
            (if (= w :-e)
                (protect (lua-chunk v "=(command line)"))
                (protect require v))
            (set i (+ i 2)))
          (= w :-i) (set (interactive? i) (values true (+ i 1)))
          (= w :-v) (set (ran? i) (values true (+ i 1)))
          (= w :--) (set (script i) (values (. words (+ i 1)) (+ i 1)))
          (= w :-) (set script w)
          (= (string.sub w 1 1) "-")
          (do (stderr:write "upscript: unrecognized option '" w "'\n" lua-usage)
              (exit 1))
          (set script w))))
  (when script
    (run-lua-file exe script [(unpack words (+ i 1))]))
  (if interactive? (do (when (not ran?) (lua-version)) (lua-repl))
      (or script ran?) 0
      ;; Nothing to run: lua reads stdin, as for `-`.
      (run-lua-file exe "-" [])))

{: lua-main}
