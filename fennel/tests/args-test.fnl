(local t (require :upd.test))
(local args (require :upd.args))
(local s (t.suite "args"))

(local spec {:name "demo" :usage "demo IFNAME [--mode a|b] [--every SECS] [--quiet] [-- EXTRA...]"
             :positional {:min 1 :max 1 :error "expected one interface name"}
             :options {:mode (args.one-of :a :b) :every args.positive :quiet args.flag
                       :name args.text}
             :rest :extra})

(fn run [argv]
  ;; parse-or-exit with a sys that records instead of exiting
  (let [seen {:out [] :err []}
        sys {:out #(table.insert seen.out $) :err #(table.insert seen.err $)
             :exit #(do (set seen.code $) (error :exited))}
        (ok? a b) (pcall args.parse-or-exit spec argv sys)]
    (when ok? (set seen.result [a b]))
    seen))

(s:test "parses positionals, options, flags and the rest"
        #(do (t.is= ["eth0" {:mode "b" :every 5 :quiet true :extra ["-x" "--y"]}]
                    [(args.parse spec ["eth0" "--mode" "b" "--quiet" "--every" "5" "--" "-x" "--y"])])
             (t.is= ["eth0" {}] [(args.parse spec ["eth0"])] "no rest list without --")
             (t.is= [["a" "b"] {}] [(args.parse {:options {}} ["a" "b"])] "a list without :max 1")))

(s:test "errors name the option and the value"
        #(do (t.is= [nil "unknown option --bogus"] [(args.parse spec ["eth0" "--bogus" "1"])])
             (t.is= [nil "option --every needs a value"] [(args.parse spec ["eth0" "--every"])])
             (t.is= [nil "option --every needs a positive number, not 0"]
                    [(args.parse spec ["eth0" "--every" "0"])])
             (t.is= [nil "option --mode needs a or b, not c"] [(args.parse spec ["eth0" "--mode" "c"])])
             (t.is= [nil "expected one interface name"] [(args.parse spec [])])
             (t.is= [nil "expected one interface name"] [(args.parse spec ["a" "b"])])
             (t.is= [nil "bad"] [(args.parse {:options {} :check #(when (= (. $1 1) "x") "bad")} ["x"])])))

(s:test "a bad flag: one line, the usage, the usage exit code"
        #(let [seen (run ["eth0" "--bogus"])]
           (t.is= 2 args.usage-exit)
           (t.is= args.usage-exit seen.code)
           (t.is= ["demo: unknown option --bogus\nusage: demo IFNAME [--mode a|b] [--every SECS] [--quiet] [-- EXTRA...]"]
                  seen.err)
           (t.is= [] seen.out)))

(s:test "a missing value exits with the usage code"
        #(let [seen (run ["eth0" "--mode"])]
           (t.is= 2 seen.code)
           (t.is (: (. seen.err 1) :find "demo: option --mode needs a value\nusage: demo IFNAME" 1 true)
                 (. seen.err 1))))

(s:test "--help prints the usage on stdout and exits 0; good arguments return"
        #(do (let [seen (run ["--help"])]
               (t.is= 0 seen.code)
               (t.is= ["usage: demo IFNAME [--mode a|b] [--every SECS] [--quiet] [-- EXTRA...]"] seen.out))
             (t.is= ["lo" {:quiet true}] (. (run ["lo" "--quiet"]) :result))))

(s:done)
