;; upd.launch-lua: lua5.1's command line (see upd.launcher, which requires
;; this only for options, LUA_INIT or a script not named *.lua; a service's
;; `upscript FILE.lua` does not keep it in memory):
;;   upscript [-e STAT] [-l MOD] [-i] [-v] [--] [SCRIPT|-] [ARGS...]

(local unpack (or table.unpack _G.unpack))
(local {: version : protect : pack : traceback : lua-chunk : lua-file-chunk : run-lua-file}
       (require :upd.launcher))
(local {: getenv : exit} os)
(local stderr io.stderr)

(fn prompt [first?]
  (let [p (. _G (if first? :_PROMPT :_PROMPT2))]
    (io.stdout:write (if (or (= (type p) :string) (= (type p) :number)) p
                         first? "> " ">> "))
    (io.stdout:flush)))

(fn read-chunk []
  "lua5.1's loadline: a line (`=EXPR` stands for `return EXPR`), then more
  lines while the chunk is incomplete (its error ends in '<eof>'). nil at the
  end of input."
  (prompt true)
  (case (io.stdin:read :*l)
    line (do
           (var src (if (= (string.sub line 1 1) "=") (.. "return " (string.sub line 2)) line))
           (var (f err) (loadstring src "=stdin"))
           (while (and (not f) (= (string.sub err -7) "'<eof>'") src)
             (prompt false)
             (case (io.stdin:read :*l)
               more (do (set src (.. src "\n" more))
                        (set (f err) (loadstring src "=stdin")))
               nil (set src nil)))
           (if (not src) nil (values true f err)))))

(fn lua-repl []
  "lua -i: runs each chunk read, prints its values with the global print."
  (var done? false)
  (while (not done?)
    (case (read-chunk)
      (true f) (let [res (pack (xpcall f traceback))]
                 (if (not (. res 1)) (stderr:write (tostring (. res 2)) "\n")
                     (> res.n 1) (_G.print (unpack res 2 res.n))))
      (true nil err) (stderr:write err "\n")
      nil (set done? true)))
  (io.stdout:write "\n")
  (io.stdout:flush)
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
  ;; To stderr, as lua5.1's.
  (stderr:write "upscript " version " (" _VERSION ")\n"))

(fn usage-error [w]
  (when w (stderr:write "upscript: unrecognized option '" w "'\n"))
  (stderr:write lua-usage)
  (exit 1))

(fn collect-args [words]
  "lua5.1's collectargs: where the script is (0: none) and which of -i, -v,
  -e were given. -eSTAT and -lMOD may be one word; -i implies -v."
  (var (i script) (values 1 nil))
  (var (i? v? e?) (values false false false))
  (while (and (not script) (. words i))
    (let [w (. words i)
          o (string.sub w 2 2)
          bare? (= (length w) 2)]
      (if (not= (string.sub w 1 1) "-") (set script i)
          (= w "-") (set script i)
          (= o "-") (if bare? (set script (if (. words (+ i 1)) (+ i 1) 0)) (usage-error w))
          (and (= o "i") bare?) (set (i? v?) (values true true))
          (and (= o "v") bare?) (set v? true)
          (or (= o "e") (= o "l"))
          (do (when (= o "e") (set e? true))
              (when bare?
                (set i (+ i 1))
                (when (not (. words i)) (usage-error nil))))
          (usage-error w))
      (set i (+ i 1))))
  (values (or script 0) i? v? e?))

(fn run-args [words n]
  "The -e and -l options before word n, in order."
  (var i 1)
  (while (< i n)
    (let [w (. words i)
          o (string.sub w 2 2)]
      (when (or (= o "e") (= o "l"))
        (var v (string.sub w 3))
        (when (= v "")
          (set i (+ i 1))
          (set v (. words i)))
        (if (= o "e")
            (protect (lua-chunk v "=(command line)"))
            (protect require v))))
    (set i (+ i 1))))

(fn lua-main [exe words]
  "lua5.1's pmain: LUA_INIT, the options (-e and -l run in order, before
  `arg` is set), the script with the words after it as its arguments and the
  words before it as arg[-n..-1], then -i's prompt; nothing to run: stdin."
  (case (getenv :LUA_INIT)
    init (protect (if (= (string.sub init 1 1) "@")
                      (lua-file-chunk (string.sub init 2))
                      (lua-chunk init "=LUA_INIT"))))
  (let [(script i? v? e?) (collect-args words)]
    (when v? (lua-version))
    (run-args words (if (> script 0) script (+ (length words) 1)))
    (when (> script 0)
      (run-lua-file [exe (unpack words 1 (- script 1))] (. words script)
                    [(unpack words (+ script 1))]))
    (if i? (lua-repl)
        (and (= script 0) (not e?) (not v?)) (run-lua-file exe "-" [])
        0)))

{: lua-main}
