;; upd.cli: the `upd` command (the binary invoked as `upd`, or `upscript upd`):
;; `run` hands over to upd.supervisor; the rest is the console tool, which
;; reads the published trees (`upd/services/*` for status), publishes, and
;; writes commands into the supervisor's FIFO `$UPD_ROOT/.control`.
;; Everything goes through a `sys` table (out, err, stdin lines, tty?, clocks)
;; so tests capture the output; `main` returns the exit code:
;; 0 ok, 1 not found or failed, 2 usage.

(local tree-path (require :upd.path))
(local split-path tree-path.split)
(local numeric-key? tree-path.numeric-key?)
(local child tree-path.child)
(local lookup tree-path.at-path)

(local usage "Usage: upd COMMAND [ARGS...]
  run [--config FILE]       supervise the services of FILE (/etc/upd/services.fnl)
  check [--config FILE]     check a services file and exit
  status [--json]           one line per supervised service (also `upd` alone)
  show [--json] SERVICE [PATH]   a published tree as indented `key value` lines
                            (`upd show` alone: every published service and its state)
  get [--json] SERVICE/PATH one published value (exit 1 if absent)
  watch [SERVICE...]        print `HH:MM:SS service key value` as keys change
  set SERVICE/PATH VALUE    change one value of a published tree
  publish [--private] SERVICE   replace a tree with `path=value` lines from stdin
  withdraw SERVICE          remove a published tree (e.g. from an s6 finish script)
  start|stop|restart NAME   control a supervised service
  fleet status|show|watch|set --broker URL ...   routers through an MQTT broker (upd fleet help)
  help                      this text
Exit codes: 0 ok, 1 not found or failed, 2 usage.
")

(local default-config "/etc/upd/services.fnl")
(local unpack (or table.unpack _G.unpack))

;;; Pure helpers

(fn key? [s]
  "A key of a path inside a tree (not a service name: `name-error` says
those): the one native rule, `upd.core`'s `check-key`, which the publisher
applies again."
  (and (= (type s) :string) (= true ((. (require :upd.core) :check-key) s))))

(fn key-before? [a b]
  "Numeric keys first, in numeric order; then the others as strings."
  (let [na (and (numeric-key? a) (tonumber a))
        nb (and (numeric-key? b) (tonumber b))]
    (if (and na nb) (< na nb)
        na true
        nb false
        (< (tostring a) (tostring b)))))

(fn sorted-keys [tbl]
  (doto (icollect [k (pairs tbl)] k) (table.sort key-before?)))


(fn utf8-length [s i]
  "The length of the valid UTF-8 sequence starting at byte i (a non-ASCII
lead byte), or nil."
  (let [c (s:byte i)
        n (if (and (>= c 0xC2) (<= c 0xDF)) 2 (and (>= c 0xE0) (<= c 0xEF)) 3
              (and (>= c 0xF0) (<= c 0xF4)) 4 0)
        seq (s:sub i (+ i n -1))]
    (when (and (> n 0) (= (# seq) n) (not (: (seq:sub 2) :find "[^\128-\191]")))
      n)))

(fn printable [value]
  "VALUE as one line that is safe on a terminal: a backslash, control
characters (C0, DEL, and C1 also when encoded in UTF-8: terminals obey them)
and bytes that are not UTF-8 are escaped (`\\`, `\n`, `\t`, `\r`, `\xHH`);
valid UTF-8 text is kept."
  (let [s (tostring value)]
    (if (not (s:find "[%c\\\128-\255]")) s
        (let [out []
              hex #(table.insert out (string.format "\\x%02x" $1))]
          (var i 1)
          (while (<= i (# s))
            (let [c (s:byte i)
                  n (when (>= c 0x80) (utf8-length s i))]
              (if (= c 92) (table.insert out "\\\\")
                  (= c 10) (table.insert out "\\n")
                  (= c 9) (table.insert out "\\t")
                  (= c 13) (table.insert out "\\r")
                  (or (< c 32) (= c 127)) (hex c)
                  (< c 128) (table.insert out (string.char c))
                  ;; U+0080..U+009F (C1 controls) as UTF-8: C2 80..C2 9F
                  (and n (= c 0xC2) (< (s:byte (+ i 1)) 0xA0))
                  (do (hex c) (hex (s:byte (+ i 1))))
                  n (table.insert out (s:sub i (+ i n -1)))
                  (hex c))
              (set i (+ i (or n 1)))))
          (table.concat out)))))


(fn tree-lines [tree ?indent ?out]
  "Indented `key value` lines: sorted, numeric keys in numeric order."
  (let [indent (or ?indent "")
        out (or ?out [])]
    (each [_ k (ipairs (sorted-keys tree))]
      (let [v (. tree k)]
        (if (= (type v) :table)
            (do (table.insert out (.. indent (tostring k)))
                (tree-lines v (.. indent "  ") out))
            (table.insert out (.. indent (tostring k) " " (printable v))))))
    out))

(fn utf8-clean [s]
  "S with every byte that is not part of valid UTF-8 replaced by U+FFFD."
  (if (not (s:find "[\128-\255]")) s
      (let [out []]
        (var i 1)
        (while (<= i (# s))
          (let [c (s:byte i)
                n (if (< c 0x80) 1 (utf8-length s i))]
            (if n
                (do (table.insert out (s:sub i (+ i n -1))) (set i (+ i n)))
                (do (table.insert out "\239\191\189") (set i (+ i 1))))))
        (table.concat out))))

(fn json-string [s]
  (.. "\"" (pick-values 1 (: (utf8-clean s) :gsub "[%c\"\\]"
                                 (fn [c]
                                   (case c
                                     "\"" "\\\"" "\\" "\\\\" "\n" "\\n" "\t" "\\t" "\r" "\\r"
                                     _ (string.format "\\u%04x" (string.byte c))))))
      "\""))

(fn array-length [tbl]
  "n when the keys of tbl are exactly 1..n (numbers or numeric strings), else nil."
  (var n 0)
  (var ok? true)
  (each [k (pairs tbl) &until (not ok?)]
    (set n (+ n 1))
    (set ok? (numeric-key? k)))
  (when (and ok? (> n 0))
    (for [i 1 n &until (not ok?)]
      (set ok? (not= nil (child tbl (tostring i))))))
  (if (and ok? (> n 0)) n nil))

(fn json [value]
  (case (type value)
    :string (json-string value)
    :number (if (not= value value) "null"
                (or (= value math.huge) (= value (- math.huge))) "null"
                (= value (math.floor value)) (string.format "%d" value)
                (string.format "%.14g" value))
    :boolean (tostring value)
    :nil "null"
    :table (case (array-length value)
             n (.. "[" (table.concat (fcollect [i 1 n] (json (child value (tostring i)))) ",") "]")
             _ (.. "{" (table.concat (icollect [_ k (ipairs (sorted-keys value))]
                                       (.. (json-string (tostring k)) ":" (json (. value k))))
                                     ",")
                   "}"))
    other (error (.. "json: cannot encode a " other))))

(fn age [secs]
  (let [s (math.max 0 (math.floor (or (tonumber secs) 0)))]
    (if (< s 60) (.. s "s")
        (< s 3600) (.. (math.floor (/ s 60)) "m" (% s 60) "s")
        (< s 86400) (.. (math.floor (/ s 3600)) "h" (math.floor (/ (% s 3600) 60)) "m")
        (.. (math.floor (/ s 86400)) "d" (math.floor (/ (% s 86400) 3600)) "h"))))

(local colours {:ready "32" :running "32" :starting "33" :backoff "31" :stopping "33"
                :stopped "2"})

(fn cut [s width]
  (if (> (# s) width) (.. (s:sub 1 (- width 1)) "~") s))

(fn status-lines [services now ?colour? ?states]
  "The `upd status` table: per service the supervisor's view of its process
(PROCESS, SINCE, RESTARTS, PID) and the service's own published `state`
(STATE, from ?states: name -> value). Fits 80 columns: long names and states
are cut with `~`."
  (let [names (sorted-keys services)
        states (or ?states {})
        width (math.min 32 (accumulate [w 4 _ n (ipairs names)] (math.max w (# (tostring n)))))
        ;; what is left of 80 columns for STATE
        state-width (- 80 width 35)
        row (fn [name process since restarts pid state]
              (string.format (.. "%-" width "s %-8s %8s %8s %-7s %s")
                             name process since restarts pid (cut state state-width)))
        lines [(row "NAME" "PROCESS" "SINCE" "RESTARTS" "PID" "STATE")]]
    (each [_ n (ipairs names)]
      (let [svc (. services n)
            name (cut (tostring n) width)
            process (tostring (or svc.state "?"))
            own (. states n)
            line (row name process (if svc.since (age (- now (tonumber svc.since))) "-")
                      (or svc.restarts "0") (or svc.pid "-")
                      (if (= (type own) :string) own "-"))]
        (table.insert lines
                      (if (and ?colour? (. colours process))
                          (pick-values 1 (line:gsub (.. "^(" (string.rep "." width) " )(%S+)")
                                                    (fn [pre st]
                                                      (.. pre "\027[" (. colours process) "m" st "\027[0m"))))
                          line))))
    lines))

(fn published-lines [names states]
  "`upd show` alone: each published service and its own `state` (`-` if none)."
  (let [width (accumulate [w 4 _ n (ipairs names)] (math.max w (# n)))]
    (icollect [_ n (ipairs names)]
      (let [st (. states n)]
        (string.format (.. "%-" width "s %s") n (if (= (type st) :string) st "-"))))))

(fn colour? [sys]
  "Colour only on a terminal that can show it: not with NO_COLOR set, nor
with TERM unset or `dumb` (a serial console, an editor's shell)."
  (let [term (sys.getenv "TERM")]
    (and (sys.tty?) (= nil (sys.getenv "NO_COLOR"))
         (not= nil term) (not= term "") (not= term "dumb"))))

(fn set-in [tree parts value where]
  "Sets tree[parts...] = value creating directories; nil, msg on a conflict."
  (var node tree)
  (var err nil)
  (for [i 1 (- (# parts) 1) &until err]
    (let [k (. parts i)
          v (child node k)]
      (if (= nil v) (let [d {}] (tset node k d) (set node d))
          (= (type v) :table) (set node v)
          (set err (.. where (table.concat parts "/" 1 i) " is a value")))))
  (if err (values nil err)
      (let [last (. parts (# parts))
            old (child node last)]
        (if (= (type old) :table)
            (values nil (.. where (table.concat parts "/") " is a directory"))
            (do (when (and (numeric-key? last) (= nil (. node last)) (not= nil old))
                  (tset node (tonumber last) nil))
                (tset node last value)
                tree)))))

(fn check-path [path]
  (let [parts (split-path path)]
    (if (= 0 (# parts)) (values nil "empty path")
        (case (accumulate [bad nil _ p (ipairs parts) &until bad]
                (when (not (key? p)) p))
          bad (values nil (.. "invalid key " (string.format "%q" bad)))
          _ parts))))

(fn parse-assignments [next-line]
  "`path=value` lines (from the iterator next-line) as a tree, or nil,
`stdin:LINE: message`. Blank lines and lines starting with # are skipped."
  (let [tree {}
        seen {}]
    (var lineno 0)
    (var err nil)
    (each [line next-line &until err]
      (set lineno (+ lineno 1))
      (let [where (.. "stdin:" lineno ": ")]
        (when (not (or (line:find "^%s*$") (line:find "^%s*#")))
          (case (line:match "^([^=]*)=(.*)$")
            (path value)
            (case (check-path path)
              parts (let [norm (table.concat parts "/")]
                      (if (. seen norm)
                          (set err (.. where "duplicate key " norm " (first on line " (. seen norm) ")"))
                          (case (set-in tree parts value where)
                            (nil msg) (set err msg)
                            _ (tset seen norm lineno))))
              (nil msg) (set err (.. where msg)))
            _ (set err (.. where "expected path=value"))))))
    (if err (values nil err) tree)))

(fn split-target [target]
  "SERVICE/PATH -> service, path (path may be nil)."
  (let [(service path) (target:match "^([^/]+)/?(.*)$")]
    (values service (if (= path "") nil path))))

;;; Commands

(fn read [upd name ?path]
  "The tree (or the part at ?path); nil when absent; nil, msg when unreadable."
  (if ?path (upd.read name ?path) (upd.read name)))

(fn fail [sys action msg]
  (sys.err (.. "upd: " action ": " msg "\n"))
  1)

(fn name-error [upd name]
  "The message when NAME is not a valid service name (the one native rule,
`upd.check-name`, which the publisher and the services file use too)."
  (case (upd.check-name (or name ""))
    (nil msg) msg))

(fn bad-name [sys action msg]
  (fail sys action msg))

(fn usage-error [sys msg]
  (sys.err (.. "upd: " msg "\n" usage))
  (. (require :upd.launcher) :usage-exit))

(fn take-flag [args flag]
  "Removes every `flag` from args; true when it was there."
  (var found? false)
  (for [i (# args) 1 -1]
    (when (= (. args i) flag) (set found? true) (table.remove args i)))
  found?)

(fn bad-option [args]
  (accumulate [bad nil _ a (ipairs args) &until bad]
    (when (and (= "-" (a:sub 1 1)) (not= a "-")) a)))

(fn config-arg [args]
  (if (= 0 (# args)) default-config
      (and (= 2 (# args)) (= "--config" (. args 1))) (. args 2)
      nil))

(fn cmd-run [upd sys args]
  (case (config-arg args)
    file (case ((. (require :upd.supervisor) :run) file)
           (nil msg) (fail sys :run msg)
           _ 0)
    _ (usage-error sys "run: usage: upd run [--config FILE]")))

(fn cmd-check [upd sys args]
  (case (config-arg args)
    file (case ((. (require :upd.config) :load-file) file)
           entries (do (sys.out (.. file ": " (# entries) " services\n")) 0)
           (nil msg) (fail sys :check msg))
    _ (usage-error sys "check: usage: upd check [--config FILE]")))

(fn own-states [upd names]
  (collect [_ n (ipairs names)] (values n (upd.read n "state"))))

(fn wait-while-starting [upd sys]
  "The supervisor's tree; while it says `starting` (reading its services
file), waits for it, at most 10 s. While there is none, waits 2 s for one:
a supervisor started a moment ago (a console's first prompt comes before
the emulated router's `upd run` has published) is not \"no supervisor\"."
  (var sup (read upd :upd))
  (var waited 0)
  (while (or (and (= nil sup) (< waited 2))
             (and (= (type sup) :table) (= sup.state "starting") (< waited 10)))
    (sys.sleep 0.1)
    (set waited (+ waited 0.1))
    (set sup (read upd :upd)))
  sup)

(fn cmd-status [upd sys args]
  (let [json? (take-flag args "--json")]
    (if (not= 0 (# args)) (usage-error sys "status: usage: upd status [--json]")
        (case (wait-while-starting upd sys)
          (where sup (= (type sup) :table) (= sup.state "starting"))
          (fail sys :status (.. "the supervisor (pid " (tostring sup.pid) ") is still reading "
                                (tostring sup.config)))
          (where sup (= (type sup) :table))
          (let [services (or sup.services {})]
            (if json?
                (sys.out (.. (json services) "\n"))
                (each [_ line (ipairs (status-lines services (sys.wall) (colour? sys)
                                                    (own-states upd (sorted-keys services))))]
                  (sys.out (.. line "\n"))))
            0)
          _ (fail sys :status (.. "no supervisor is running (nothing published as upd under "
                                  (upd.root) ")"))))))

(fn cmd-list [upd sys]
  "`upd show` alone: every published service, one per line with its state."
  (let [names (upd.list)]
    (if (= 0 (# names))
        (fail sys :show (.. "nothing is published under " (upd.root)))
        (do (each [_ line (ipairs (published-lines names (own-states upd names)))]
              (sys.out (.. line "\n")))
            0))))

(fn cmd-bare [upd sys]
  "`upd` alone: the supervised services, or else every published one."
  (if (read upd :upd) (cmd-status upd sys [])
      (< 0 (# (upd.list))) (cmd-list upd sys)
      (fail sys :status (.. "no supervisor is running and nothing is published under "
                            (upd.root) " (upd help: the commands)"))))

(fn cmd-show [upd sys args]
  (let [json? (take-flag args "--json")]
    (case (if (and (= 0 (# args)) (not json?)) :list
              (or (= 1 (# args)) (= 2 (# args))) args [])
      :list (cmd-list upd sys)
      (where [service ?path] (not (bad-option args)) (name-error upd service))
      (bad-name sys :show (name-error upd service))
      (where [service ?path] (not (bad-option args)))
      (let [path ?path
            (value msg) (read upd service path)
            what (if path (.. service "/" path) service)]
        (if (= nil value) (fail sys :show (.. what ": " (or msg "not found")))
            json? (do (sys.out (.. (json value) "\n")) 0)
            (= (type value) :table)
            (do (each [_ line (ipairs (tree-lines value))] (sys.out (.. line "\n"))) 0)
            (do (sys.out (.. (printable value) "\n")) 0)))
      _ (usage-error sys "show: usage: upd show [--json] SERVICE [PATH]"))))

(fn cmd-get [upd sys args]
  (let [json? (take-flag args "--json")]
    (case (if (= 1 (# args)) args [])
      (where [target] (not (bad-option args)))
      (let [(service path) (split-target target)]
        (if (= nil path) (usage-error sys "get: usage: upd get [--json] SERVICE/PATH")
            (name-error upd service) (bad-name sys :get (name-error upd service))
            (case (read upd service path)
              (nil ?msg) (fail sys :get (.. target ": " (or ?msg "not found")))
              (where value json?) (do (sys.out (.. (json value) "\n")) 0)
              (where value (= (type value) :table))
              (fail sys :get (.. target ": is a directory (use upd show)"))
              ;; A person at a terminal sees control characters escaped; a
              ;; script reading a pipe (`$(upd get eth0/mtu)`) the bytes.
              value (do (sys.out (.. (if (sys.stdout-tty?) (printable value) (tostring value))
                                     "\n"))
                        0))))
      _ (usage-error sys "get: usage: upd get [--json] SERVICE/PATH"))))

(fn set-value [upd sys service path value]
  ;; Read, changed and published under the service's lock (natively):
  ;; concurrent `set`s of one tree all keep their value. An unreadable tree
  ;; is not an empty one: it is refused, not replaced.
  (case (upd.set-value service path value)
    (nil msg) (fail sys :set (if (or (msg:find "is a value$") (msg:find "is a directory$"))
                                 msg
                                 (.. service ": " (tostring msg))))
    _ 0))

(fn cmd-set [upd sys args]
  (case (if (= 2 (# args)) args [])
    [target value]
    (let [(service path) (split-target target)]
      (if (name-error upd service) (bad-name sys :set (name-error upd service))
          (= nil path) (usage-error sys "set: usage: upd set SERVICE/PATH VALUE")
          (case (check-path path)
            parts (set-value upd sys service (table.concat parts "/") value)
            (nil msg) (fail sys :set (.. target ": " msg)))))
    _ (usage-error sys "set: usage: upd set SERVICE/PATH VALUE")))

(fn cmd-publish [upd sys args]
  (let [private? (take-flag args "--private")]
    (case (if (= 1 (# args)) args [])
      (where [service] (not (bad-option args)) (name-error upd service))
      (bad-name sys :publish (name-error upd service))
      (where [service] (not (bad-option args)))
      (case (parse-assignments (sys.lines))
        tree (case (upd.publish service tree {:private private?})
               (nil ?msg) (fail sys :publish (.. service ": " (tostring ?msg)))
               _ 0)
        (nil msg) (fail sys :publish msg))
      _ (usage-error sys "publish: usage: upd publish [--private] SERVICE < LINES"))))

(fn cmd-withdraw [upd sys args]
  (case (if (= 1 (# args)) args [])
    (where [service] (name-error upd service))
    (bad-name sys :withdraw (name-error upd service))
    [service]
    ;; A tree that cannot be read (a link planted inside it) is still ours to
    ;; remove: only a name that is not there at all is "not found".
    (case (read upd service)
      (nil nil) (fail sys :withdraw (.. service ": not found"))
      _ (case (upd.withdraw service)
          (nil ?msg) (fail sys :withdraw (.. service ": " (tostring ?msg)))
          _ 0))
    _ (usage-error sys "withdraw: usage: upd withdraw SERVICE")))

(fn write-control [upd path line]
  ;; A native non-blocking write fails at once when nobody reads the FIFO.
  ;; Without it, open read-write: that never blocks, but a line written after
  ;; the supervisor died unnoticed is lost with the pipe.
  (let [(ok? core) (pcall require :upd.core)
        native (or upd.fifo-write (and ok? (= (type core) :table) (. core :fifo-write)))]
    (if native (native path line)
        (case (io.open path "r+")
          f (let [(ok msg) (f:write line)]
              (f:close)
              (if ok true (values nil msg)))
          (nil msg) (values nil msg)))))

(fn cmd-control [upd sys cmd args]
  (case (if (= 1 (# args)) args [])
    (where [name] (name-error upd name))
    (bad-name sys cmd (name-error upd name))
    [name]
    (case (read upd :upd)
      nil (fail sys cmd "no supervisor is running")
      sup (if (= nil (. (or sup.services {}) name))
              (fail sys cmd (.. name ": no such service"))
              (case (write-control upd (.. (upd.root) "/.control") (.. cmd " " name "\n"))
                (nil ?msg) (fail sys cmd (.. "cannot write to the supervisor: " (tostring ?msg)))
                _ 0)))
    _ (usage-error sys (.. cmd ": usage: upd " cmd " NAME"))))

(fn leaf-paths [tree ?prefix ?out]
  (let [out (or ?out [])]
    (each [_ k (ipairs (sorted-keys tree))]
      (let [path (.. (or ?prefix "") (tostring k))
            v (. tree k)]
        (if (= (type v) :table) (leaf-paths v (.. path "/") out)
            (table.insert out path))))
    out))

(fn change-lines [service tree changed clock]
  "The `upd watch` lines for one subscription callback. Without a list of
changes (a first call may have none), every key of the tree is new."
  (let [stamp (.. clock " " service " ")
        changed (if (and (= 0 (# (or changed []))) (= (type tree) :table))
                    (leaf-paths tree)
                    (or changed []))]
    (if (and (= nil tree) (= 0 (# changed)))
        [(.. stamp "(gone)")]
        (icollect [_ path (ipairs changed)]
          (let [v (lookup tree path)]
            (.. stamp path " "
                (if (= nil v) "(gone)" (= (type v) :table) "(directory)" (printable v))))))))

(fn cmd-watch [upd sys args]
  (case (bad-option args)
    opt (usage-error sys (.. "watch: unknown option " opt))
    _ (case (accumulate [bad nil _ a (ipairs args) &until bad] (name-error upd a))
        msg (bad-name sys :watch msg)
        _ (let [watched {}
                every? (= 0 (# args))]
            (var relist nil)
            (fn watch! [name]
              (when (= nil (. watched name))
                (tset watched name
                      (upd.subscribe name
                                     (fn [tree changed]
                                       (each [_ line (ipairs (change-lines name tree changed (sys.clock)))]
                                         (sys.out (.. line "\n")))
                                       (when (and every? (= name :upd)) (relist)))))))
            (set relist #(each [_ name (ipairs (upd.list))] (watch! name)))
            (if every?
                (do (watch! :upd)
                    (relist)
                    ;; Services published outside the supervisor change nothing
                    ;; under `upd`: look for new names every 2 s as well.
                    (upd.every 2 relist))
                (each [_ name (ipairs args)] (watch! name)))
            (upd.run)
            0))))

(fn default-io []
  {:out (fn [s] (io.stdout:write s) (io.stdout:flush))
   :err (fn [s] (io.stderr:write s))
   :lines (fn [] (io.stdin:lines))
   :wall os.time
   :clock #(os.date "%H:%M:%S")
   :stdout-tty? (fn []
                  (let [(ok? core) (pcall require :upd.core)]
                    (and ok? (= (type core) :table) (not= nil (. core :isatty))
                         (= true ((. core :isatty) 1)))))
   :getenv os.getenv
   :sleep (fn [secs] ((. (require :upd) :step) secs))
   :tty? (fn []
           (let [(ok? core) (pcall require :upd.core)]
             (and ok? (= (type core) :table)
                  (not= nil (. core :isatty)) (= true ((. core :isatty) 1)))))})

(fn main [args ?sys]
  "Runs `upd ARGS...`; returns the exit code."
  (let [sys (default-io)
        args (icollect [_ a (ipairs (or args []))] a)
        cmd (table.remove args 1)]
    (each [k v (pairs (or ?sys {}))] (tset sys k v))
    (if (and cmd (or (= cmd "-m") (cmd:find "%.fnl$") (cmd:find "%.lua$")))
        ;; `upd run` spawns `SELF -m MODULE` / `SELF FILE`; when the binary is
        ;; installed under the name `upd`, SELF is `upd`: run it as upscript would.
        ((. (require :upd.launcher) :main) :upscript (or (. _G.arg -1) "upd") [cmd (unpack args)])
        (or (= cmd :help) (= cmd "--help") (= cmd "-h"))
        (do (sys.out usage) 0)
        (let [upd (if (or (= cmd :check) (= cmd :run)) {} (require :upd))]
          (case cmd
            nil (cmd-bare upd sys)
            :run (cmd-run upd sys args)
            :check (cmd-check upd sys args)
            :status (cmd-status upd sys args)
            :show (cmd-show upd sys args)
            :get (cmd-get upd sys args)
            :set (cmd-set upd sys args)
            :publish (cmd-publish upd sys args)
            :withdraw (cmd-withdraw upd sys args)
            :watch (cmd-watch upd sys args)
            :fleet ((. (require :upd.fleet) :main) upd sys args)
            (where c (or (= c :start) (= c :stop) (= c :restart))) (cmd-control upd sys c args)
            _ (usage-error sys (.. "unknown command " cmd)))))))

{: main : usage : json : age : tree-lines : status-lines : published-lines : colour?
 : parse-assignments
 : set-in : change-lines : key-before? : lookup}
