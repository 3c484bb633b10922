;; upd.args: a service's command line from a spec, so that every service
;; parses, reports and exits alike. A spec:
;;   {:name "netdev"                      ; the prefix of every error line
;;    :usage "netdev IFNAME [--counters SECS]"
;;    :positional {:min 1 :max 1 :error "expected one interface name"}
;;    :options {:name args.text :counters args.non-negative :ipv6 args.flag}
;;    :rest :extra                        ; words after `--` go to opts.extra
;;                                        ; (absent without a `--`)
;;    :check (fn [positionals opts] nil-or-msg)}   ; optional, after the rest
;; (parse spec argv) -> positionals opts, or nil msg. With :max 1 the one
;; positional is returned as itself, else the list. opts keys are the
;; option names without `--`.
;; (parse-or-exit spec argv [sys]) prints the usage on --help (exit 0) and,
;; on an error, one line plus the usage on stderr and exits usage-exit: the
;; one code for a usage error, shared with the `upd` console and upscript.

(local {: usage-exit} (require :upd.launcher))

(fn kind [needs check] {: needs : check})

(local text (kind "a value" #$))
(local flag {:flag true})
(local positive (kind "a positive number" #(case (tonumber $) (where n (> n 0)) n)))
(local non-negative (kind "a number >= 0" #(case (tonumber $) (where n (>= n 0)) n)))
(local number (kind "a number" #(tonumber $)))

(fn one-of [...]
  (let [choices [...]
        ok (collect [_ c (ipairs choices)] c true)]
    (kind (table.concat choices " or ") #(when (. ok $) $))))

(fn matching [pattern needs convert]
  (kind needs #(when ($:match pattern) (if convert (convert $) $))))

(fn option [spec opts argv i]
  ;; -> the index of the last word used, or nil msg
  (let [a (. argv i) v (. argv (+ i 1))
        k (. spec.options (a:sub 3))]
    (if (not k) (values nil (.. "unknown option " a))
        k.flag (do (tset opts (a:sub 3) true) i)
        (= nil v) (values nil (.. "option " a " needs a value"))
        (case (k.check v)
          nil (values nil (.. "option " a " needs " k.needs ", not " v))
          x (do (tset opts (a:sub 3) x) (+ i 1))))))

(fn parse [spec argv]
  (let [opts {} pos []
        {:min lo :max hi :error count-error} (or spec.positional {})]
    (var (i err) (values 1 nil))
    (while (and (<= i (length argv)) (not err))
      (let [a (. argv i)]
        (if (and (= a "--") spec.rest)
            (do (tset opts spec.rest (fcollect [j (+ i 1) (length argv)] (. argv j)))
                (set i (length argv)))
            (and (a:match "^%-") (not= a "-"))
            (case (option spec opts argv i)
              j (set i j)
              (nil msg) (set err msg))
            (table.insert pos a)))
      (set i (+ i 1)))
    (if err (values nil err)
        (or (< (length pos) (or lo 0)) (and hi (> (length pos) hi)))
        (values nil (or count-error "wrong number of arguments"))
        (let [pos (if (= hi 1) (. pos 1) pos)]
          (case (and spec.check (spec.check pos opts))
            msg (values nil msg)
            _ (values pos opts))))))

(local stdio {:out #(io.stdout:write $ "\n") :err #(io.stderr:write $ "\n") :exit os.exit})

(fn parse-or-exit [spec argv sys]
  (let [sys (or sys stdio)]
    (if (or (= (. argv 1) "--help") (= (. argv 1) "-h"))
        (do (sys.out (.. "usage: " spec.usage)) (sys.exit 0))
        (case (parse spec argv)
          (nil msg) (do (sys.err (.. spec.name ": " msg "\nusage: " spec.usage))
                        (sys.exit usage-exit))
          (pos opts) (values pos opts)))))

{: parse : parse-or-exit : usage-exit : text : flag : positive : non-negative : number
 : one-of : matching : kind}
