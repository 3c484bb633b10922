;; upd.fleet: `upd fleet status|show|watch|set --broker URL ...`, the console
;; over every router that an mqtt-bridge connects to one broker (docs/mqtt.md).
;; Reads the retained messages `upd/<router>/...`; a command has them all
;; once the echo of its own message on `upd-fleet/<client-id>` has come back
;; (the broker sends the retained ones first). `set` publishes a retained
;; `upd/<router>/set/<service>/<path>` and waits for the broker to deliver it
;; back (a publish its ACL refuses is dropped silently in MQTT 3.1.1).
;; Exit codes as upd's: 0 ok, 1 failed or not found, 2 usage.
(local mqtt (require :upd.mqtt))
(local client (require :upd.mqtt-client))
(local cli (require :upd.cli))

(local usage "usage: upd fleet COMMAND --broker mqtts://HOST[:PORT] [--ca FILE] [--cert FILE --key FILE] [--user NAME --password-file FILE] [--timeout SECS]
  status [--json]                       routers, online/offline, each service's state
  show [--json] ROUTER [SERVICE [PATH]] a router's trees as `key value` lines
  watch [ROUTER...]                     `HH:MM:SS router path value` as messages come
  set ROUTER SERVICE/PATH VALUE         push VALUE (- reads stdin; \"\" removes it)
")

(fn parse [args]
  (let [opts {:timeout 10} pos []
        valued {"--broker" :broker "--ca" :ca "--cert" :cert "--key" :key "--user" :user
                "--password-file" :password-file "--timeout" :timeout "--openssl" :openssl}]
    (var (i err) (values 1 nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) key (. valued a)]
        (if key (if (= nil (. args (+ i 1))) (set err (.. a " needs a value"))
                    (do (tset opts key (. args (+ i 1))) (set i (+ i 1))))
            (= a "--json") (set opts.json? true)
            (and (a:find "^%-%-") (not= a "--")) (set err (.. "unknown option " a))
            (table.insert pos a)))
      (set i (+ i 1)))
    (set opts.timeout (tonumber opts.timeout))
    (each [_ [flag key] (ipairs [["--password-file" :password-file] ["--key" :key]])]
      (when (and (not err) (. opts key))
        (case (client.secret-file (. opts key)) msg (set err (.. flag ": " msg)))))
    (when (and (not err) opts.password-file)
      (case (io.open opts.password-file)
        f (do (set opts.password (or (f:read :*l) "")) (f:close))
        (nil msg) (set err (.. "--password-file: " msg))))
    (if err (values nil err)
        (not opts.broker) (values nil "--broker is required")
        (not opts.timeout) (values nil "--timeout must be a number")
        (values opts pos))))

(fn run-session [upd sys opts filters on-message ?on-synced]
  "Connects, subscribes to FILTERS, calls (on-message topic payload retain?)
  for each message and (?on-synced finish client) once the retained ones are in;
  (finish code) ends it. Returns the exit code."
  (let [id (.. "upd-fleet-" (case (io.open "/proc/self/stat")
                               f (let [pid (: (f:read :*l) :match "^%d+")] (f:close) pid)
                               _ (os.time)))
        marker (.. "upd-fleet/" id)]
    (var (code c timer) (values nil nil nil))
    (fn finish [n]
      (when (= nil code)
        (set code n)
        (when timer (upd.cancel timer))
        (c:stop)))
    (set c (client.new {:broker opts.broker :id id :ca opts.ca :cert opts.cert :key opts.key
                        :user opts.user :password opts.password :openssl opts.openssl :keepalive 30
                        :on-connect #(c:batch #(do (c:subscribe filters 1)
                                                   (c:subscribe [marker] 1)
                                                   (c:publish marker "sync" 1 false)))
                        :on-message (fn [_ p]
                                      (if (and (= p.type :publish) (= p.topic marker))
                                          (when ?on-synced (?on-synced finish c))
                                          (= p.type :publish)
                                          (on-message p.topic p.payload p.retain)))
                        :on-disconnect (fn [_ why]
                                         (when (= nil code)
                                           (sys.err (.. "upd: fleet: " opts.broker ": " why "\n"))
                                           (set code 1))
                                         (upd.stop))}))
    (case (c:start)
      (nil msg) (do (sys.err (.. "upd: fleet: " msg "\n")) 1)
      _ (do (when (> opts.timeout 0)
              (set timer (upd.after opts.timeout
                                    #(do (sys.err (.. "upd: fleet: " opts.broker ": no answer in "
                                                      opts.timeout " s\n"))
                                         (finish 1)))))
            (upd.on-signal :INT #(finish 0))
            (upd.run)
            (or code 0)))))

(fn split [topic] (icollect [l (string.gmatch topic "[^/]+")] l))

(fn cmd-status [upd sys opts pos]
  (let [routers {}]
    (fn router [r] (or (. routers r) (let [t {:services {}}] (tset routers r t) t)))
    (if (not= 0 (length pos)) 2
        (run-session upd sys opts ["upd/+/status" "upd/+/+/state"]
                     (fn [topic payload]
                       (let [[_ r svc] (split topic)
                             v (when (not= payload "") payload)]
                         (if (= topic (.. "upd/" r "/status")) (tset (router r) :status v)
                             (not= svc :set) (tset (. (router r) :services) svc v))))
                     (fn [finish]
                       (if opts.json?
                           (sys.out (.. (cli.json routers) "\n"))
                           (let [names (doto (icollect [r (pairs routers)] r) table.sort)
                                 w (accumulate [w 6 _ r (ipairs names)] (math.max w (length r)))]
                             (sys.out (string.format (.. "%-" w "s %-8s %s\n") "ROUTER" "STATUS" "SERVICES"))
                             (each [_ r (ipairs names)]
                               (let [t (. routers r)
                                     svcs (doto (icollect [s st (pairs t.services)] (.. s ":" st)) table.sort)]
                                 (sys.out (string.format (.. "%-" w "s %-8s %s\n") r (or t.status "?")
                                                         (table.concat svcs " ")))))))
                       (finish 0))))))

(fn cmd-show [upd sys opts pos]
  (let [[r svc path] pos
        prefix (.. "upd/" (tostring r) "/" (if svc (.. svc "/") ""))
        tree {}]
    (if (or (< (length pos) 1) (> (length pos) 3) (not (mqtt.topic-level? r))
            (and svc (not (mqtt.topic-level? svc))))
        2
        (run-session upd sys opts [(.. prefix "#")]
                     (fn [topic payload]
                       (when (and (not= payload "") (= prefix (topic:sub 1 (length prefix))))
                         (cli.set-in tree (split (topic:sub (+ 1 (length prefix)))) payload "")))
                     (fn [finish]
                       (let [value (if path (cli.lookup tree path) tree)]
                         (if (or (= nil value) (and (= (type value) :table) (= nil (next value))))
                             (do (sys.err (.. "upd: fleet: show: " (table.concat pos "/") ": not found\n"))
                                 (finish 1))
                             (do (if opts.json? (sys.out (.. (cli.json value) "\n"))
                                     (= (type value) :table)
                                     (each [_ l (ipairs (cli.tree-lines value))] (sys.out (.. l "\n")))
                                     (sys.out (.. value "\n")))
                                 (finish 0)))))))))

(fn cmd-watch [upd sys opts pos]
  (if (accumulate [bad false _ r (ipairs pos)] (or bad (not (mqtt.topic-level? r)))) 2
      (do (set opts.timeout 0)
          (run-session upd sys opts
                       (if (= 0 (length pos)) ["upd/#"] (icollect [_ r (ipairs pos)] (.. "upd/" r "/#")))
                       (fn [topic payload]
                         (let [[_ r] (split topic)
                               path (topic:sub (+ 6 (length r)))]
                           (sys.out (.. (sys.clock) " " r " " path " "
                                        (if (= payload "") "(gone)" (pick-values 1 (payload:gsub "\n" "\\n")))
                                        "\n"))))))))

(fn cmd-set [upd sys opts pos]
  (let [[r target value] pos
        parts (split (or target ""))
        value (if (= value "-") (table.concat (icollect [l (sys.lines)] l) "\n") value)]
    (if (or (not= 3 (length pos)) (not (mqtt.topic-level? r)) (< (length parts) 2)
            (accumulate [bad false _ p (ipairs parts)] (or bad (not (mqtt.topic-level? p)))))
        2
        (let [topic (.. "upd/" r "/set/" (table.concat parts "/"))]
          (var sent? false)
          (var done nil)
          (run-session upd sys opts [topic]
                       (fn [t payload retain?]
                         (when (and sent? (= t topic) (not retain?) (= payload value)) (done 0)))
                       (fn [finish c]
                         (set done finish)
                         (set sent? true)
                         (c:publish topic value 1 true)
                         (upd.after (math.max 1 (/ opts.timeout 2))
                                    #(do (sys.err (.. "upd: fleet: set " topic ": the broker did not deliver it"
                                                      " back (does its ACL let you write set/?)\n"))
                                         (finish 1)))))))))

(fn main [upd sys args]
  (let [args (icollect [_ a (ipairs args)] a)
        cmd (table.remove args 1)
        commands {:status cmd-status :show cmd-show :watch cmd-watch :set cmd-set}]
    (case (. commands (or cmd ""))
      f (case (parse args)
          (opts pos) (let [code (f upd sys opts pos)]
                       (when (= code 2) (sys.err (.. "upd: fleet " cmd ": bad arguments\n" usage)))
                       code)
          (nil msg) (do (sys.err (.. "upd: fleet: " msg "\n" usage)) 2))
      _ (do (if (or (= cmd nil) (= cmd :help) (= cmd "--help"))
                (sys.out usage)
                (sys.err (.. "upd: fleet: unknown command " cmd "\n" usage)))
            (if (or (= cmd :help) (= cmd "--help")) 0 2)))))

{: main : usage : parse}
