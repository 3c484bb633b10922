;; upd.cli: every command against a mocked `upd` holding published trees in
;; memory, with output captured through the io table.
(local t (require :upd.test))
(local s (t.suite "cli"))

;; Like the facade, a path through a value reads as false.
(fn fake-upd [trees]
  (let [u {: trees :subs {} :published [] :timers []}]
    (fn copy [x] (if (= (type x) :table) (collect [k v (pairs x)] (values k (copy v))) x))
    (fn u.root [] "/r")
    (fn u.read [name ?path]
      (var node (. u.trees name))
      (each [part (string.gmatch (or ?path "") "[^/]+")]
        (set node (when (= (type node) :table) (. node part))))
      (copy node))
    (fn u.publish [name tree]
      (if u.fail-publish (values nil u.fail-publish)
          (do (tset u.trees name (copy tree)) (table.insert u.published name) true)))
    (fn u.withdraw [name] (tset u.trees name nil) true)
    ;; the one native rule for names, as the real module has it
    (set u.check-name (. (require :upd.core) :check-name))
    ;; the native read-change-publish under the lock, over the fake trees
    (fn u.set-value [name path value]
      (let [(current msg) (u.read name)]
        (if msg (values nil msg)
            (case ((. (require :upd.cli) :set-in) (or current {}) (icollect [p (path:gmatch "[^/]+")] p)
                   value (.. name "/"))
              tree (case (u.publish name tree) (nil m) (values nil m) _ true)
              (nil m) (values nil m)))))
    (fn u.list [] (doto (icollect [k (pairs u.trees)] k) (table.sort)))
    (fn u.subscribe [name f] (tset u.subs name f) name)
    (fn u.every [secs f] (table.insert u.timers f) 1)
    (fn u.fifo-write [path line] (set u.fifo [path line]) (if u.no-reader (values nil "no reader") true))
    (fn u.run [] (when u.loop (u.loop)) true)
    u))

(fn cli [u args ?stdin ?extra]
  (let [saved package.loaded.upd
        out [] err []
        io {:out #(table.insert out $1) :err #(table.insert err $1)
            :lines #(let [lines (or ?stdin [])] (var i 0) #(do (set i (+ i 1)) (. lines i)))
            :wall #1000 :clock #"12:00:00" :tty? #false :stdout-tty? #false
            :getenv #(. {:TERM "xterm"} $1) :sleep #nil}]
    (each [k v (pairs (or ?extra {}))] (tset io k v))
    ;; upd.cli is compiled once (it takes `upd` from package.loaded at each
    ;; call). Compiling it afresh for every call costs time, and made
    ;; upscript's embedded compiler spin now and then in a macro's
    ;; walk-tree (seen on main too; not with lua5.1, nor UPD_INFLATE_HERE=1).
    (tset package.loaded :upd u)
    (let [(ok? code) (pcall #((. (require :upd.cli) :main) args io))]
      (tset package.loaded :upd saved)
      (when (not ok?) (error code 0))
      {: code :out (table.concat out) :err (table.concat err)})))

(local sample
       {:upd {:services {:eth0 {:state "ready" :pid "12" :restarts "0" :since "997"}
                         :pppoe {:state "backoff" :restarts "3" :since "-2000" :last-exit "exit 1"}}}
        :eth0 {:carrier "yes" :mtu "1500"
               :addresses {"1" {:address "10.0.0.1" :length "24"}
                           "2" {:address "10.0.0.2" :length "24"}
                           "10" {:address "10.0.0.10" :length "8"}}}})

(fn copy [x] (if (= (type x) :table) (collect [k v (pairs x)] (values k (copy v))) x))

(s:test "help and usage errors"
        #(let [u (fake-upd {})]
           (let [r (cli u ["help"])] (t.is= 0 r.code) (t.is (r.out:find "Usage: upd")))
           (let [r (cli u [])]
             (t.is= 1 r.code)
             (t.is (r.err:find "^upd: status: no supervisor is running and nothing is published under /r")))
           (let [r (cli u ["frob"])] (t.is= 2 r.code) (t.is (r.err:find "^upd: unknown command frob")))
           (t.is= 2 (. (cli u ["get"]) :code))
           (t.is= 2 (. (cli u ["get" "eth0"]) :code) "get needs a path")
           (t.is= 2 (. (cli u ["get" "a/b" "c"]) :code))
           (t.is= 1 (. (cli u ["show"]) :code) "show alone with nothing published")
           (t.is= 2 (. (cli u ["show" "--json"]) :code))
           (t.is= 2 (. (cli u ["show" "--bogus" "eth0"]) :code))
           (t.is= 2 (. (cli u ["status" "x"]) :code))
           (t.is= 2 (. (cli u ["set" "eth0/mtu"]) :code))
           (t.is= 2 (. (cli u ["stop"]) :code))
           (t.is= 2 (. (cli u ["run" "--config"]) :code))
           (t.is= 2 (. (cli u ["watch" "-x"]) :code))))

(s:test "status: one aligned line per service, ages, within 80 columns"
        #(let [r (cli (fake-upd (copy sample)) ["status"])]
           (t.is= 0 r.code)
           (t.is= (.. "NAME  PROCESS     SINCE RESTARTS PID     STATE\n"
                      "eth0  ready          3s        0 12      -\n"
                      "pppoe backoff     50m0s        3 -       -\n")
                  r.out)))

(s:test "status: the service's own state beside the supervisor's view"
        #(let [trees (copy sample)]
           (set trees.eth0.state "running")
           (set trees.pppoe {:state "waiting-for-carrier"})
           (let [r (cli (fake-upd trees) ["status"])]
             (t.is= 0 r.code)
             (t.is= (.. "NAME  PROCESS     SINCE RESTARTS PID     STATE\n"
                        "eth0  ready          3s        0 12      running\n"
                        "pppoe backoff     50m0s        3 -       waiting-for-carrier\n")
                    r.out))))

(s:test "status: a supervisor publishing its tree a moment later is found"
        #(let [u (fake-upd {})
               r (cli u ["status"] nil
                      {:sleep #(set u.trees.upd (copy (. sample :upd)))})]
           (t.is= 0 r.code r.err)
           (t.is (r.out:find "\neth0  ready "))))

(s:test "status: waits while the supervisor is starting, then shows it"
        #(let [u (fake-upd {:upd {:pid "7" :config "/etc/upd/services.fnl" :state "starting"}})
               sleeps []]
           (let [r (cli u ["status"] nil
                        {:sleep (fn [secs]
                                  (table.insert sleeps secs)
                                  (when (= 3 (# sleeps))
                                    (set u.trees.upd (copy (. sample :upd)))
                                    (set u.trees.upd.state "running")))})]
             (t.is= 0 r.code r.err)
             (t.is= 3 (# sleeps))
             (t.is (r.out:find "\neth0  ready ")))
           (set u.trees.upd {:pid "7" :config "/etc/upd/services.fnl" :state "starting"})
           (let [r (cli u ["status"])]
             (t.is= 1 r.code)
             (t.is= "upd: status: the supervisor (pid 7) is still reading /etc/upd/services.fnl\n" r.err))))

(s:test "upd alone is upd status; without a supervisor, the published services"
        #(let [trees (copy sample)]
           (set trees.eth0.state "running")
           (let [r (cli (fake-upd trees) [])]
             (t.is= 0 r.code)
             (t.is= (. (cli (fake-upd trees) ["status"]) :out) r.out))
           (set trees.upd nil)
           (let [r (cli (fake-upd trees) [])]
             (t.is= 0 r.code)
             (t.is= "eth0 running\n" r.out))))

(s:test "show alone: every published service and its state"
        #(let [r (cli (fake-upd {:eth0 {:state "running"} :pppoe-wan {:state "up"} :x {:a "1"}
                                 :upd {:pid "1"}})
                      ["show"])]
           (t.is= 0 r.code)
           (t.is= "eth0      running\npppoe-wan up\nupd       -\nx         -\n" r.out)))

(s:test "status: long names are cut, lines stay under 80 columns"
        #(let [name (string.rep "x" 60)
               r (cli (fake-upd {:upd {:services {name {:state "running" :since "1000" :restarts "0" :pid "1"}}}})
                      ["status"])]
           (each [line (r.out:gmatch "[^\n]+")]
             (t.is (<= (# line) 80) line))
           (t.is (r.out:find (.. (string.rep "x" 31) "~ running") 1 true))))

(s:test "status: colour only when the io says tty"
        #(let [r (cli (fake-upd (copy sample)) ["status"] nil {:tty? #true})]
           (t.is (r.out:find "\027[32mready\027[0m" 1 true))
           (t.is (not (: (. (cli (fake-upd (copy sample)) ["status"]) :out) :find "\027" 1 true)))))

(s:test "status: no colour on a tty with TERM=dumb, TERM unset or NO_COLOR"
        #(each [_ env (ipairs [{:TERM "dumb"} {} {:TERM "xterm" :NO_COLOR ""} {:TERM ""}])]
           (let [r (cli (fake-upd (copy sample)) ["status"] nil {:tty? #true :getenv #(. env $1)})]
             (t.is= 0 r.code)
             (t.is (not (r.out:find "\027" 1 true)) (.. "colour with TERM=" (tostring env.TERM))))))

(s:test "status without a supervisor fails with exit 1, after waiting 2 s for one"
        #(let [sleeps []
               r (cli (fake-upd {}) ["status"] nil {:sleep #(table.insert sleeps $1)})]
           (t.is= 1 r.code)
           (t.is (<= 19 (# sleeps) 21) (.. (# sleeps) " sleeps of 0.1 s"))
           (t.is (r.err:find "^upd: status: no supervisor is running"))))

(s:test "status with a supervisor of no services prints the header only"
        #(let [r (cli (fake-upd {:upd {:pid "1"}}) ["status"])]
           (t.is= 0 r.code)
           (t.is= "NAME PROCESS     SINCE RESTARTS PID     STATE\n" r.out)))

(s:test "status --json"
        #(let [r (cli (fake-upd {:upd {:services {:a {:state "ready" :pid "1"}}}}) ["status" "--json"])]
           (t.is= "{\"a\":{\"pid\":\"1\",\"state\":\"ready\"}}\n" r.out)))

(s:test "show: sorted, indented, numeric keys in numeric order"
        #(let [r (cli (fake-upd (copy sample)) ["show" "eth0"])]
           (t.is= 0 r.code)
           (t.is= (.. "addresses\n  1\n    address 10.0.0.1\n    length 24\n"
                      "  2\n    address 10.0.0.2\n    length 24\n"
                      "  10\n    address 10.0.0.10\n    length 8\n"
                      "carrier yes\nmtu 1500\n")
                  r.out)))

(s:test "show with a path, a value, json, and absent"
        #(let [u (fake-upd (copy sample))]
           (t.is= "address 10.0.0.2\nlength 24\n" (. (cli u ["show" "eth0" "addresses/2"]) :out))
           (t.is= "1500\n" (. (cli u ["show" "eth0" "mtu"]) :out))
           (t.is= "[{\"address\":\"10.0.0.1\",\"length\":\"24\"},{\"address\":\"10.0.0.2\",\"length\":\"24\"}]\n"
                  (. (cli (fake-upd {:x {:a {"1" {:address "10.0.0.1" :length "24"}
                                             "2" {:address "10.0.0.2" :length "24"}}}})
                          ["show" "--json" "x" "a"]) :out))
           (let [r (cli u ["show" "eth0" "nope"])]
             (t.is= 1 r.code)
             (t.is= "upd: show: eth0/nope: not found\n" r.err))
           (t.is= 1 (. (cli u ["show" "wlan0"]) :code))))

(s:test "get: one value, exit 1 when absent or a directory"
        #(let [u (fake-upd (copy sample))]
           (t.is= {:code 0 :out "10.0.0.10\n" :err ""} (cli u ["get" "eth0/addresses/10/address"]))
           (t.is= {:code 1 :out "" :err "upd: get: eth0/speed: not found\n"} (cli u ["get" "eth0/speed"]))
           (t.is= 1 (. (cli u ["get" "eth0/addresses"]) :code))
           (t.is= "upd: get: eth0/mtu/x: not found\n" (. (cli u ["get" "eth0/mtu/x"]) :err))
           (let [broken (fake-upd {})]
             (set broken.read (fn [] (values nil "symlink refused")))
             (t.is= "upd: get: eth0/mtu: symlink refused\n" (. (cli broken ["get" "eth0/mtu"]) :err))
             (t.is= "upd: show: eth0: symlink refused\n" (. (cli broken ["show" "eth0"]) :err)))
           (t.is= "\"1500\"\n" (. (cli u ["get" "--json" "eth0/mtu"]) :out))
           (t.is= "{\"address\":\"10.0.0.1\",\"length\":\"24\"}\n"
                  (. (cli u ["get" "eth0/addresses/1" "--json"]) :out))))

(s:test "json escapes strings and tells arrays from objects"
        #(let [cli-mod (require :upd.cli)]
           (t.is= "\"a\\\"b\\\\c\\n\\u0001\"" (cli-mod.json "a\"b\\c\n\001"))
           (t.is= "[1,2,3]" (cli-mod.json [1 2 3]))
           (t.is= "{\"1\":\"a\",\"3\":\"b\"}" (cli-mod.json {"1" "a" "3" "b"}))
           (t.is= "{}" (cli-mod.json {}))
           (t.is= "[true,1.5]" (cli-mod.json [true 1.5]))))

(s:test "age formats"
        #(let [cli-mod (require :upd.cli)]
           (t.is= ["0s" "59s" "1m0s" "5m3s" "1h0m" "23h59m" "1d0h" "3d4h" "0s"]
                  (icollect [_ n (ipairs [0 59 60 303 3600 86399 86400 273600 -5])] (cli-mod.age n)))))

(s:test "set: read-modify-publish the whole tree"
        #(let [u (fake-upd (copy sample))]
           (t.is= 0 (. (cli u ["set" "eth0/mtu" "1400"]) :code))
           (t.is= "1400" (. u.trees :eth0 :mtu))
           (t.is= "yes" (. u.trees :eth0 :carrier) "other keys kept")
           (t.is= "10.0.0.10" (. u.trees :eth0 :addresses "10" :address))
           (t.is= 0 (. (cli u ["set" "eth0/stats/rx" "5"]) :code))
           (t.is= "5" (. u.trees :eth0 :stats :rx))
           (t.is= 0 (. (cli u ["set" "newsvc/a" "1"]) :code) "a new service may be created")
           (t.is= {:a "1"} (. u.trees :newsvc))))

(s:test "set: conflicts and bad keys fail without publishing"
        #(let [u (fake-upd (copy sample))]
           (t.is= {:code 1 :out "" :err "upd: set: eth0/mtu is a value\n"}
                  (cli u ["set" "eth0/mtu/x" "1"]))
           (t.is= {:code 1 :out "" :err "upd: set: eth0/addresses is a directory\n"}
                  (cli u ["set" "eth0/addresses" "1"]))
           (t.is= 1 (. (cli u ["set" "eth0/a b" "1"]) :code))
           (set u.fail-publish "disk full")
           (t.is= "upd: set: eth0: disk full\n" (. (cli u ["set" "eth0/mtu" "1"]) :err))
           (t.is= [] u.published)))

(s:test "publish: path=value lines replace the tree"
        #(let [u (fake-upd (copy sample))
               r (cli u ["publish" "eth0"] ["carrier=no" "" "# comment" "addresses/1/address=10.1.1.1"
                                            "note=a=b"])]
           (t.is= 0 r.code)
           (t.is= {:carrier "no" :note "a=b" :addresses {"1" {:address "10.1.1.1"}}} (. u.trees :eth0))))

(s:test "publish: a bad line names stdin:LINE and publishes nothing"
        #(let [u (fake-upd (copy sample))]
           (t.is= {:code 1 :out "" :err "upd: publish: stdin:2: expected path=value\n"}
                  (cli u ["publish" "eth0"] ["a=1" "oops"]))
           (t.is= "upd: publish: stdin:2: a is a value\n"
                  (. (cli u ["publish" "eth0"] ["a=1" "a/b=2"]) :err))
           (t.is= "upd: publish: stdin:2: a is a directory\n"
                  (. (cli u ["publish" "eth0"] ["a/b=1" "a=2"]) :err))
           (t.is= "upd: publish: stdin:3: duplicate key a (first on line 1)\n"
                  (. (cli u ["publish" "eth0"] ["a=1" "b=2" "a=3"]) :err))
           (t.is= "upd: publish: stdin:1: invalid key \"..\"\n"
                  (. (cli u ["publish" "eth0"] ["../x=1"]) :err))
           (t.is= "upd: publish: stdin:1: empty path\n"
                  (. (cli u ["publish" "eth0"] ["=1"]) :err))
           (t.is= [] u.published)
           (t.is= "1500" (. u.trees :eth0 :mtu))))

(s:test "start/stop/restart write to the FIFO; errors when nobody supervises"
        #(let [u (fake-upd (copy sample))]
           (t.is= 0 (. (cli u ["restart" "eth0"]) :code))
           (t.is= ["/r/.control" "restart eth0\n"] u.fifo)
           (t.is= 0 (. (cli u ["stop" "pppoe"]) :code))
           (t.is= "stop pppoe\n" (. u.fifo 2))
           (t.is= {:code 1 :out "" :err "upd: start: wlan0: no such service\n"} (cli u ["start" "wlan0"]))
           (set u.no-reader true)
           (t.is= {:code 1 :out "" :err "upd: start: cannot write to the supervisor: no reader\n"}
                  (cli u ["start" "eth0"]))
           (t.is= {:code 1 :out "" :err "upd: stop: no supervisor is running\n"}
                  (cli (fake-upd {}) ["stop" "eth0"]))))

(s:test "watch SERVICE: one line per changed key, (gone) when removed"
        #(let [u (fake-upd (copy sample))]
           (set u.loop (fn []
                         ((. u.subs :eth0) {:mtu "1400" :addresses {"1" {:address "a"}}}
                                           ["mtu" "addresses/1/address" "carrier"])
                         ((. u.subs :eth0) nil ["mtu"])
                         ((. u.subs :eth0) nil [])))
           (let [r (cli u ["watch" "eth0"])]
             (t.is= 0 r.code)
             (t.is= (.. "12:00:00 eth0 mtu 1400\n12:00:00 eth0 addresses/1/address a\n"
                        "12:00:00 eth0 carrier (gone)\n12:00:00 eth0 mtu (gone)\n"
                        "12:00:00 eth0 (gone)\n")
                    r.out))
           (t.is= nil (. u.subs :pppoe) "only the named service")))

(s:test "watch: a first call without a change list prints every key"
        #(let [cli-mod (require :upd.cli)]
           (t.is= ["T s a 1" "T s b/1 x" "T s b/2 y"]
                  (cli-mod.change-lines "s" {:a "1" :b {"2" "y" "1" "x"}} nil "T"))
           (t.is= ["T s a 1"] (cli-mod.change-lines "s" {:a "1"} [] "T"))
           (t.is= ["T s (gone)"] (cli-mod.change-lines "s" nil nil "T"))))

(s:test "watch with no args follows every service, including new ones"
        #(let [u (fake-upd (copy sample))]
           (set u.loop (fn []
                         (tset u.trees :late {:x "1"})
                         ((. u.subs :upd) (. u.trees :upd) ["services/late/state"])
                         (t.is (. u.subs :late) "subscribed on a change of upd")
                         (tset u.trees :later {:y "1"})
                         ((. u.timers 1))
                         (t.is (. u.subs :later) "subscribed by the periodic re-list")))
           (t.is= 0 (. (cli u ["watch"]) :code))
           (t.is (. u.subs :eth0))))

(s:test "upd -m MODULE and upd FILE.fnl run scripts, as upscript does"
        #(let [calls []
               saved (. package.loaded :upd.launcher)]
           (tset package.loaded :upd.launcher
                 {:main (fn [mode exe words] (table.insert calls [mode words]) 7)})
           (let [r1 (cli (fake-upd {}) ["-m" "pppoe" "eth0"])
                 r2 (cli (fake-upd {}) ["/etc/x.fnl" "a"])]
             (tset package.loaded :upd.launcher saved)
             (t.is= 7 r1.code)
             (t.is= [[:upscript ["-m" "pppoe" "eth0"]] [:upscript ["/etc/x.fnl" "a"]]] calls))))

(s:test "withdraw removes a tree; exit 1 when absent"
        #(let [u (fake-upd (copy sample))]
           (t.is= 0 (. (cli u ["withdraw" "eth0"]) :code))
           (t.is= nil (. u.trees :eth0))
           (t.is= {:code 1 :out "" :err "upd: withdraw: eth0: not found\n"} (cli u ["withdraw" "eth0"]))
           (t.is= 2 (. (cli u ["withdraw"]) :code))))

(s:test "check validates a services file"
        #(let [path (os.tmpname)]
           (with-open [f (io.open path :w)] (f:write "[{:name \"a\"}]"))
           (let [r (cli (fake-upd {}) ["check" "--config" path])]
             (os.remove path)
             (t.is= 1 r.code)
             (t.is= (.. "upd: check: " path ":1: missing :script\n") r.err))))

(s:test "set refuses a tree it cannot read instead of replacing it"
        #(let [u (fake-upd (copy sample))]
           (set u.read (fn [] (values nil "eth0: refusing symlink eth0/x")))
           (t.is= {:code 1 :out "" :err "upd: set: eth0: eth0: refusing symlink eth0/x\n"}
                  (cli u ["set" "eth0/mtu" "1400"]))
           (t.is= [] u.published)))

(s:test "a bad service name is one line naming it, exit 1"
        #(let [u (fake-upd (copy sample))
               r (cli u ["set" "../etc/x/y" "1"])]
           (t.is= 1 r.code)
           (t.is= "upd: set: bad service name \"..\": '.' and '..' are not keys\n" r.err)
           (t.is= "upd: get: bad service name \".eth0\": a service name may not start with '.'\n"
                  (. (cli u ["get" ".eth0/x"]) :err))
           (each [_ args (ipairs [["show" "control"] ["publish" "control"] ["withdraw" "control"]
                                  ["watch" "control"] ["stop" "control"] ["set" "control/a" "1"]])]
             (let [r (cli u args)]
               (t.is= 1 r.code (. args 1))
               (t.is (r.err:find "bad service name \"control\": reserved") r.err)))
           (let [long (cli u ["set" (.. (string.rep "a" 10000) "/k") "1"])]
             (t.is= 1 long.code)
             (t.is= 1 (select 2 (long.err:gsub "\n" ""))))))

(s:test "json output stays valid for bytes that are not UTF-8"
        #(let [u (fake-upd {:bin {:v "ok\255\195(é"}})]
           (t.is= "\"ok\239\191\189\239\191\189(é\"\n" (. (cli u ["get" "--json" "bin/v"]) :out))))

(s:test "show, get on a terminal, watch: control characters escaped; get to a pipe: raw"
        #(let [evil "red\027[31m\r\n\t\\x\127\194\155\255é"
               u (fake-upd {:f {:v evil}})
               escaped "red\\x1b[31m\\r\\n\\t\\\\x\\x7f\\xc2\\x9b\\xffé"]
           (t.is= (.. "v " escaped "\n") (. (cli u ["show" "f"]) :out))
           (t.is= (.. escaped "\n") (. (cli u ["show" "f" "v"]) :out))
           (t.is= (.. escaped "\n") (. (cli u ["get" "f/v"] nil {:stdout-tty? #true}) :out))
           (t.is= (.. evil "\n") (. (cli u ["get" "f/v"]) :out) "a script gets the bytes")
           (set u.loop #((. u.subs :f) {:v evil} ["v"]))
           (t.is= (.. "12:00:00 f v " escaped "\n") (. (cli u ["watch" "f"]) :out))
           (t.is= "plain text, UTF-8 ünïcode\n"
                  (. (cli (fake-upd {:f {:v "plain text, UTF-8 ünïcode"}}) ["show" "f" "v"]) :out))))

(s:test "publish --private publishes privately"
        #(let [u (fake-upd {})
               opts []]
           (let [publish u.publish]
             (set u.publish (fn [name tree o] (table.insert opts (or o {})) (publish name tree))))
           (t.is= 0 (. (cli u ["publish" "--private" "keys"] ["a=1"]) :code))
           (t.is= 0 (. (cli u ["publish" "plain"] ["a=1"]) :code))
           (t.is= [true false] (icollect [_ o (ipairs opts)] (= true o.private)))
           (t.is= 2 (. (cli u ["publish" "--bogus" "x"] ["a=1"]) :code))))

(s:done)
