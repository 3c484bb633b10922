;; upd.config: reads and checks the services file of `upd run`.
;; The file is literal data (a sequence of tables), never code: a `.fnl` file
;; is parsed, not evaluated, so each entry keeps its line number and errors read
;; `FILE:LINE: message`. A `.lua` file is a chunk returning the table, run with
;; an empty environment; its errors name the entry instead of a line.
;; The checks are pure (`parse-string`, `validate`) and take the file system
;; lookups as arguments, so tests run them on strings.

(local known-keys {:name :string :script :string :args :table :env :table
                   :user :id :group :id :private :boolean :stop-timeout :number
                   :memory-limit :size})

(fn name-error [name]
  "Why `name` cannot name a service, or nil: the one native rule
(`upd.core`'s `check-name`), shared with the publisher and the console."
  (case ((. (require :upd.core) :check-name) name)
    (nil msg) msg))

(fn where [file ?line]
  (if ?line (.. file ":" ?line) file))

(fn fail [file ?line msg]
  (error {:msg (.. (where file ?line) ": " msg)}))

(fn parse-fennel [text file]
  ;; A data reader, not the Fennel compiler: the supervisor never loads it.
  (let [forms ((. (require :upd.literal) :read) text file)]
    (when (not= 1 (# forms))
      (fail file (let [extra (. forms 2)] (if extra extra.line 1))
            (.. "expected one sequence of service tables, found " (# forms) " forms")))
    (. forms 1 :form :value)))

(fn parse-lua [text file]
  (let [(chunk err) ((or _G.loadstring load) text (.. "@" file))]
    (when (not chunk) (error {:msg err}))
    (when setfenv (setfenv chunk {}))
    (let [(ok? value) (pcall chunk)]
      (when (not ok?) (error {:msg (tostring value)}))
      value)))

(fn entry-where [file entry i]
  (let [mt (getmetatable entry)
        line (and (= (type mt) :table) mt.line)]
    (if line (where file line)
        (.. file ": entry " i))))

(fn bare-module? [script]
  (and (= nil (script:find "/")) (= nil (script:find "%.fnl$"))
       (= nil (script:find "%.lua$"))))

(fn dir-of [file]
  (or (file:match "^(.*)/[^/]*$") "."))

(fn check-entry [entry i file opts seen]
  (let [at (entry-where file entry i)
        bad (fn [msg] (error {:msg (.. at ": " msg)}))]
    (when (not= (type entry) :table)
      (error {:msg (.. file ": entry " i " is not a table")}))
    (each [k v (pairs entry)]
      (let [want (. known-keys k)]
        (when (not want) (bad (.. "unknown key " (tostring k))))
        (when (and (= want :id) (not= (type v) :string) (not= (type v) :number))
          (bad (.. ":" k " must be a name or a number")))
        (when (and (= want :size)
                   (not (or (and (= (type v) :number) (> v 0) (= v (math.floor v)))
                            (and (= (type v) :string) (v:find "^%d+[KkMmGg]?$")))))
          (bad (.. ":" k " must be a size in bytes, such as 16777216 or \"16M\"")))
        (when (and (not= want :id) (not= want :size) (not= (type v) want))
          (bad (.. ":" k " must be a " want ", got " (type v))))))
    (when (= nil entry.name) (bad "missing :name"))
    (case (name-error entry.name)
      msg (bad msg))
    (when (= entry.name :upd) (bad ":name upd is the supervisor's own"))
    (when (. seen entry.name)
      (bad (.. "duplicate :name " entry.name " (first at line " (. seen entry.name) ")")))
    (tset seen entry.name (or (let [mt (getmetatable entry)] (and mt mt.line)) i))
    (when (= nil entry.script) (bad "missing :script"))
    (when (= entry.script "") (bad ":script is empty"))
    (let [args (or entry.args [])]
      (each [k v (pairs args)]
        (when (or (not= (type k) :number) (< k 1) (> k (# args)))
          (bad ":args must be a sequence"))
        (when (and (not= (type v) :string) (not= (type v) :number))
          (bad (.. ":args " k " must be a string or a number, got " (type v))))))
    (each [k v (pairs (or entry.env {}))]
      (when (or (not= (type k) :string) (not (k:find "^[%a_][%w_]*$")))
        (bad (.. ":env key " (tostring k) " is not a variable name")))
      (when (and (not= (type v) :string) (not= (type v) :number))
        (bad (.. ":env " k " must be a string or a number, got " (type v)))))
    (when (and entry.stop-timeout (<= entry.stop-timeout 0))
      (bad ":stop-timeout must be positive"))
    (let [script entry.script]
      (if (bare-module? script)
          (when (not (opts.module? script))
            (bad (.. "unknown script " script
                     " (no such module; a file must be a path ending .fnl or .lua)")))
          (let [path (if (= "/" (script:sub 1 1)) script
                         (.. (or opts.dir (dir-of file)) "/" script))]
            (when (not (opts.file? path))
              (bad (.. "script " script " not found (" path ")")))
            path)))))

(fn normalize [entry path]
  "A plain copy with defaults filled in, all strings, the script resolved."
  {:name entry.name
   :script entry.script
   :path path
   :args (icollect [_ a (ipairs (or entry.args []))] (tostring a))
   :env (collect [k v (pairs (or entry.env {}))] (values k (tostring v)))
   :user entry.user :group entry.group
   :private (= true entry.private)
   :stop-timeout entry.stop-timeout
   :memory-limit (and entry.memory-limit (tostring entry.memory-limit))})

(fn validate [data file opts]
  "Checks the parsed data; returns a sequence of normalized entries or nil, msg."
  (let [(ok? result)
        (pcall #(do
                  (when (not= (type data) :table)
                    (fail file 1 "expected a sequence of service tables"))
                  (each [k (pairs data)]
                    (when (or (not= (type k) :number) (< k 1) (> k (# data)))
                      (fail file (let [mt (getmetatable data)] (and mt mt.line))
                            "expected a sequence of service tables, not a table with keys")))
                  (let [seen {}]
                    (icollect [i entry (ipairs data)]
                      (normalize entry (check-entry entry i file opts seen))))))]
    (if ok? result
        (= (type result) :table) (values nil result.msg)
        (error result 0))))

(fn parse-string [text file]
  "The services file `text` (named `file`, which picks Fennel or Lua) as data,
or nil, msg."
  (let [(ok? result) (pcall (if (file:find "%.lua$") parse-lua parse-fennel) text file)]
    (if ok? result
        (= (type result) :table) (values nil result.msg)
        (values nil (.. file ": " (tostring result))))))

;; The real lookups.

(fn file? [path]
  (case (io.open path :r)
    f (do (f:close) true)
    _ false))

(fn search-path [name path]
  (let [base (name:gsub "%." "/")]
    (accumulate [found nil template (string.gmatch (or path "") "[^;]+") &until found]
      (let [candidate (template:gsub "%?" base)]
        (when (file? candidate) candidate)))))

(fn module? [name]
  ;; Embedded modules sit in package.preload; a service module has no side
  ;; effects at load, so requiring one as a last resort is safe.
  (or (let [(ok? core) (pcall require :upd.core)]
        (and ok? (= (type core) :table) (. core :embedded?) ((. core :embedded?) name)))
      (not= nil (. package.preload name))
      (not= nil (. package.loaded name))
      (not= nil (search-path name package.path))
      (let [(ok? fennel) (pcall require :fennel)]
        (and ok? (not= nil (search-path name fennel.path))))
      (let [(ok?) (pcall require name)]
        (tset package.loaded name nil)
        ok?)))

(fn read-file [file]
  (case (io.open file :r)
    f (let [text (f:read :*a)] (f:close) text)
    (nil msg) (values nil msg)))

(fn load-string [text file ?opts]
  "Parses and checks services-file text; entries or nil, `FILE:LINE: msg`.
A file whose whole content is `nil` parses to nil with no message: it is
checked (and refused) like any other value that is not a sequence."
  (let [(data msg) (parse-string text file)]
    (if (and (= nil data) msg)
        (values nil msg)
        (validate data file (or ?opts {: module? : file?})))))

(fn load-file [file ?opts]
  "Reads, parses and checks the services file; entries or nil, `FILE:LINE: msg`."
  (case (read-file file)
    text (load-string text file ?opts)
    (nil msg) (values nil (.. file ": " msg))))

(fn same-entry? [a b]
  "True when two normalized entries would run the same process."
  (if (and (= (type a) :table) (= (type b) :table))
      (and (accumulate [same? true k v (pairs a) &until (not same?)]
             (same-entry? v (. b k)))
           (accumulate [same? true k (pairs b) &until (not same?)]
             (not= nil (. a k))))
      (= a b)))

{: parse-string : validate : load-string : load-file : same-entry? : module? : file?}
