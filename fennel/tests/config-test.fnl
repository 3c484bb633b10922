;; upd.config: the services file parser and checks, on strings (no files).
(local t (require :upd.test))
(local config (require :upd.config))
(local s (t.suite "config"))

(local lookups {:module? (fn [name] (or (= name :pppoe) (= name :netdev)))
                :file? (fn [path] (= path "/etc/upd/x.fnl"))
                :dir "/etc/upd"})

(fn load [text ?file]
  (let [file (or ?file "services.fnl")]
    (case (config.parse-string text file)
      data (config.validate data file lookups)
      (nil msg) (values nil msg))))

(fn err-of [text ?file]
  (let [(ok msg) (load text ?file)]
    (t.is (= nil ok) (.. "expected a rejection of " text))
    msg))

(s:test "a good file gives normalized entries in order"
        #(let [entries (load "[{:name \"eth0\" :script \"netdev\" :args [\"eth0\"]}
 {:name \"pppoe\" :script \"pppoe\" :args [\"eth0\" \"ppp0\" 3]
  :env {:K \"v\" :N 2} :user \"pppd\" :group 7 :private true}
 {:name \"x\" :script \"x.fnl\" :stop-timeout 2 :memory-limit \"16M\"}
 {:name \"y\" :script \"x.fnl\" :memory-limit 65536}]")]
           (t.is= 4 (# entries))
           (t.is= "16M" (. entries 3 :memory-limit))
           (t.is= "65536" (. entries 4 :memory-limit))
           (t.is= {:name "eth0" :script "netdev" :args ["eth0"] :env {} :private false}
                  (. entries 1))
           (t.is= {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0" "3"]
                   :env {:K "v" :N "2"} :user "pppd" :group 7 :private true}
                  (. entries 2))
           (t.is= "/etc/upd/x.fnl" (. entries 3 :path))
           (t.is= 2 (. entries 3 :stop-timeout))))

(s:test "an empty sequence is a valid (empty) set"
        #(t.is= [] (load "[]")))

(s:test "a syntax error names file and line"
        #(t.is= "services.fnl:2:" (: (err-of "[{:name \"a\"\n :script \"pppoe\"") :match "^services.fnl:%d+:")))

(s:test "not a sequence of tables"
        #(do (t.is= "services.fnl:1: expected a sequence of service tables, not a table with keys"
                    (err-of "{:name \"a\"}"))
             (t.is= "services.fnl:1: expected a sequence of service tables"
                    (err-of "\"hello\""))
             (t.is (: (err-of "[{:name \"a\" :script \"pppoe\"}] []") :find
                      "^services.fnl:1: expected one sequence"))
             (t.is (: (err-of "[\n 42]") :find "entry 1 is not a table"))))

(s:test "missing, invalid and duplicate names carry the entry's line"
        #(do (t.is= "services.fnl:2: missing :name" (err-of "[\n{:script \"pppoe\"}]"))
             (t.is= "services.fnl:1: bad service name \"a/b\": '/' not allowed (letters, digits, '.', '_', '-', ':')"
                    (err-of "[{:name \"a/b\" :script \"pppoe\"}]"))
             ;; the native rule: no leading dot, no name of the root's own files
             (t.is= "services.fnl:1: bad service name \".eth0\": a service name may not start with '.'"
                    (err-of "[{:name \".eth0\" :script \"pppoe\"}]"))
             (t.is (: (err-of "[{:name \"control\" :script \"pppoe\"}]") :find
                      "^services.fnl:1: bad service name \"control\": reserved"))
             (t.is (: (err-of "[{:name \"supervisor\" :script \"pppoe\"}]") :find "reserved"))
             (t.is= "services.fnl:1: :name must be a string, got number"
                    (err-of "[{:name 3 :script \"pppoe\"}]"))
             (t.is= "services.fnl:3: duplicate :name a (first at line 1)"
                    (err-of "[{:name \"a\" :script \"pppoe\"}\n\n {:name \"a\" :script \"netdev\"}]"))
             (t.is (: (err-of "[{:name \"upd\" :script \"pppoe\"}]") :find "supervisor"))))

(s:test "unknown scripts and missing files are rejected"
        #(do (t.is= "services.fnl:1: unknown script nope (no such module; a file must be a path ending .fnl or .lua)"
                    (err-of "[{:name \"a\" :script \"nope\"}]"))
             (t.is= "services.fnl:2: script y.fnl not found (/etc/upd/y.fnl)"
                    (err-of "[\n{:name \"a\" :script \"y.fnl\"}]"))
             (t.is= "services.fnl:1: missing :script" (err-of "[{:name \"a\"}]"))))

(s:test "bad types for args, env and other keys"
        #(do (t.is= "services.fnl:1: :args must be a table, got string"
                    (err-of "[{:name \"a\" :script \"pppoe\" :args \"eth0\"}]"))
             (t.is= "services.fnl:1: :args must be a sequence"
                    (err-of "[{:name \"a\" :script \"pppoe\" :args {:x \"eth0\"}}]"))
             (t.is= "services.fnl:1: :args 1 must be a string or a number, got table"
                    (err-of "[{:name \"a\" :script \"pppoe\" :args [[]]}]"))
             (t.is= "services.fnl:1: :env key 1x is not a variable name"
                    (err-of "[{:name \"a\" :script \"pppoe\" :env {:1x \"v\"}}]"))
             (t.is= "services.fnl:1: :env K must be a string or a number, got boolean"
                    (err-of "[{:name \"a\" :script \"pppoe\" :env {:K true}}]"))
             (t.is= "services.fnl:1: :memory-limit must be a size in bytes, such as 16777216 or \"16M\""
                    (err-of "[{:name \"a\" :script \"pppoe\" :memory-limit \"lots\"}]"))
             (t.is= "services.fnl:1: :memory-limit must be a size in bytes, such as 16777216 or \"16M\""
                    (err-of "[{:name \"a\" :script \"pppoe\" :memory-limit -1}]"))
             (t.is= "services.fnl:1: :private must be a boolean, got string"
                    (err-of "[{:name \"a\" :script \"pppoe\" :private \"yes\"}]"))
             (t.is= "services.fnl:1: :user must be a name or a number"
                    (err-of "[{:name \"a\" :script \"pppoe\" :user true}]"))
             (t.is= "services.fnl:1: unknown key nmae"
                    (err-of "[{:nmae \"a\" :script \"pppoe\"}]"))))

(s:test "code and symbols are refused with their line"
        #(do (t.is (: (err-of "[\n(foo)]") :find "^services.fnl:2: code is not allowed"))
             (t.is (: (err-of "[{:name x :script \"pppoe\"}]") :find
                      "^services.fnl:1: unexpected symbol x"))))

(s:test "a .lua file returns the table; errors name the entry"
        #(do (t.is= "a" (. (load "return {{name='a', script='pppoe'}}" "s.lua") 1 :name))
             (t.is= "s.lua: entry 2: missing :script"
                    (err-of "return {{name='a', script='pppoe'}, {name='b'}}" "s.lua"))
             (t.is (: (err-of "return {" "s.lua") :find "^s.lua:1:"))
             (t.is (: (err-of "return os.exit()" "s.lua") :find "^s.lua:1:")
                   "the chunk runs without globals")))

(s:test "same-entry? compares every field"
        #(let [[a b] (load "[{:name \"a\" :script \"pppoe\" :args [\"x\"]} {:name \"b\" :script \"pppoe\"}]")
               [a2] (load "[{:name \"a\" :script \"pppoe\" :args [\"x\"]}]")
               [a3] (load "[{:name \"a\" :script \"pppoe\" :args [\"y\"]}]")]
           (t.is (config.same-entry? a a2))
           (t.is (not (config.same-entry? a a3)))
           (t.is (not (config.same-entry? a b)))))

(s:test "load-file reports an unreadable file by name"
        #(let [(ok msg) (config.load-file "/nonexistent/services.fnl")]
           (t.is= nil ok)
           (t.is (msg:find "^/nonexistent/services.fnl: ") msg)))

(s:test "load-string: a value that is not a sequence, even nil, is one FILE:LINE: line"
        ;; Inputs from fuzzing the loader (fuzz/fuzz_targets/services_file.rs).
        #(each [_ text (ipairs ["nil" ":*" "42" "\"x\"" "{:a 1}"])]
           (let [(entries msg) (config.load-string text "s.fnl" {:module? #true :file? #false})]
             (t.is= nil entries text)
             (t.is (and msg (msg:find "^s%.fnl:%d+: ") (not (msg:find "\n"))) (tostring msg)))))

(s:done)
