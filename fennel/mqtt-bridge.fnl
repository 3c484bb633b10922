;; mqtt-bridge: this router's state trees at an MQTT broker, and remote
;; configuration from it (docs/mqtt.md).
;;
;; Out: every leaf of the chosen trees (default: every tree except private
;; ones and this service's own) is a retained message
;; `upd/<id>/<service>/<path>`; only what changed is sent, bursts coalesce
;; (one flush after the loop has drained its events), a withdrawn tree or key
;; clears its retained message. `upd/<id>/status` is `online`, and `offline`
;; through the broker's last will. At each connection the broker's retained
;; messages under `upd/<id>/` are read back first (until the echo of our own
;; `online`), so what is sent is the difference: stale topics of trees gone
;; while we were away are cleared, nothing unchanged is sent again.
;; In: `upd/<id>/set/<service>/<path>` messages (retained, written by the
;; operator) build the tree of <service>, published private, for services
;; named with --set only; others are refused and logged.
;; Offline, only the latest state per topic is kept (the trees themselves and
;; a set of topics to send), never a queue.
;; Publishes <name> (default mqtt-bridge): state (connecting syncing online
;; offline failed), reason, broker, id, topics (held by the broker), pending,
;; connects, refused.
(local upd (require :upd))
(local mqtt (require :upd.mqtt))
(local client (require :upd.mqtt-client))
(local {: usage-exit} (require :upd.args))

(fn leaves [tree prefix out]
  (each [k v (pairs tree)]
    (let [t (.. prefix "/" (tostring k))]
      (if (= (type v) :table) (leaves v t out) (tset out t (tostring v)))))
  out)

(fn count [t] (accumulate [n 0 _ (pairs t)] (+ n 1)))

(fn publish-self! [s]
  (let [tree {:state s.state :reason s.reason :broker s.opts.broker :id s.id
              :topics (count s.sent) :pending (count s.dirty) :connects s.c.connects
              :refused s.refused}
        text (table.concat (icollect [_ k (ipairs [:state :reason :topics :pending :connects :refused])]
                             (tostring (. tree k))) " ")]
    (when (not= text s.last-self)
      (set s.last-self text)
      (case (upd.publish s.name tree)
        (nil msg) (upd.log :err msg)))))

(fn set-state! [s state ?reason]
  (set (s.state s.reason) (values state ?reason)))

;;; Out: trees -> retained messages

(var schedule! nil)

(fn flush! [s]
  ;; Sends what differs from what the broker holds, as the window allows,
  ;; in one write (one TLS record, one TCP segment when it fits).
  (when s.synced?
    (s.c:batch #(each [t (pairs s.dirty) &until (not (s.c:room?))]
                  (let [want (. s.want t)]
                    ;; Not cleared while its tree's first snapshot is due.
                    (when (not (and (= nil want) (. s.waiting (t:match "^[^/]+/[^/]+/([^/]+)"))))
                      (tset s.dirty t nil)
                      (when (not= want (. s.sent t))
                        (case (s.c:publish t (or want "") 1 true)
                          id (tset s.inflight id [t want]))))))))
  (publish-self! s))

(fn on-tree [s name tree]
  (tset s.waiting name nil)
  (let [old (or (. s.topics name) {})
        new (if tree (leaves tree (.. s.prefix name) {}) {})]
    (each [t (pairs old)]
      (when (= nil (. new t)) (tset s.want t nil) (tset s.dirty t true)))
    (each [t v (pairs new)]
      (when (not= v (. s.want t)) (tset s.want t v) (tset s.dirty t true)))
    (tset s.topics name (when tree new))
    (schedule! s)))

(fn private? [name]
  ;; `.<name>/` is 0700 for a private tree (docs/state-tree.md)
  (case (upd.mode (.. (upd.root) "/." name)) mode (= 0 (% mode 64))))

(fn bridged? [s name]
  (if s.opts.services (= true (. s.opts.services name))
      (and (not= name s.name) (not (. s.opts.set name)) (not (private? name)))))

(fn rescan! [s]
  (each [_ name (ipairs (or (upd.list) []))]
    (when (and (= nil (. s.subs name)) (bridged? s name))
      (if (= name :set)
          (do (tset s.subs name false) (upd.log :warn "a service named set is not bridged: the name is for remote set"))
          (case (upd.subscribe name #(on-tree s name $1))
            (nil msg) (when (not= msg s.reason)
                        ;; e.g. no inotify instance left: said, retried at the next rescan
                        (set s.reason msg)
                        (upd.log :err msg))
            id (do (tset s.subs name id)
                   (tset s.waiting name true)
                   (upd.after 1 #(when (. s.waiting name) (tset s.waiting name nil) (schedule! s)))))))))

(fn copy [tree] (collect [k v (pairs tree)] (values k (if (= (type v) :table) (copy v) v))))

(var refuse! nil)

(fn publish-remote! [s name tree]
  ;; Only a changed tree: the set/ messages come again at each connection.
  ;; A tree upd refuses (over its limits: 4096 entries, 1 MiB) is not kept:
  ;; the last one published stays, and later messages apply to that.
  (let [lines (icollect [t v (pairs (leaves tree "" {}))] (.. t "=" v))
        text (table.concat (doto lines table.sort) "\n")]
    (when (not= text (. s.remote-text name))
      (case (upd.publish name tree {:private true})
        (nil msg) (do (tset s.incoming name (copy (or (. s.remote-good name) {})))
                      (refuse! s (.. s.prefix "set/" name) msg))
        _ (do (tset s.remote-text name text)
              (tset s.remote-good name (copy tree)))))))

(set schedule!
     (fn [s]
       (when (not s.flush-timer)
         (set s.flush-timer (upd.after 0 #(do (set s.flush-timer nil)
                                              (rescan! s)
                                              (flush! s)
                                              (each [name tree (pairs s.remote-dirty)]
                                                (tset s.remote-dirty name nil)
                                                (publish-remote! s name tree))))))))

;;; In: set/ messages -> trees

(set refuse! (fn [s topic why]
  (set s.refused (+ s.refused 1))
  ;; one line: a topic is the broker's bytes, control characters included
  (upd.log :warn (.. "refused " (pick-values 1 (topic:gsub "%c" "?")) ": " why))
  (schedule! s)))

(fn apply-set! [tree parts value]
  "Sets (or, value nil, removes) tree[parts...]; nil, msg on a conflict. A
  removal also removes the directories it leaves empty."
  (var (node err) (values tree nil))
  (let [path [tree]]
    (for [i 1 (- (length parts) 1) &until (not= nil err)]
      (let [k (. parts i) v (. node k)]
        (if (= (type v) :table) (set node v)
            (= nil v) (if value (let [d {}] (tset node k d) (set node d)) (set err false))
            (set err (.. (table.concat parts "/" 1 i) " is a value")))
        (table.insert path node)))
    (let [last (. parts (length parts))]
      (if err (values nil err)
          (= err false) true
          (= (type (. node last)) :table) (values nil (.. (table.concat parts "/") " is a directory"))
          (do (tset node last value)
              (for [i (length path) 2 -1 &until (next (. path i))]
                (tset (. path (- i 1)) (. parts (- i 1)) nil))
              true)))))

(fn on-set [s topic payload]
  (let [rest (topic:sub (+ (length s.prefix) 5))
        parts (icollect [p (string.gmatch rest "[^/]+")] p)
        svc (table.remove parts 1)
        tree (. s.incoming svc)]
    (if (not (. s.opts.set svc))
        (refuse! s topic (.. "service " (tostring svc) " is not configured for remote set (--set)"))
        (or (= 0 (length parts)) (> (length parts) 31)
            (accumulate [bad false _ p (ipairs parts)] (or bad (not (mqtt.topic-level? p))))
            (rest:find "//") (rest:find "/$"))
        (refuse! s topic "bad key path")
        (> (length payload) 65536) (refuse! s topic (.. (length payload) " bytes (max 65536)"))
        (case (apply-set! tree parts (when (not= payload "") payload))
          (nil msg) (refuse! s topic msg)
          _ (when s.synced?
              (tset s.remote-seen svc true)
              (tset s.remote-dirty svc tree)
              (schedule! s))))))

;;; The connection

(fn on-message [s p]
  (let [topic (or p.topic "")]
    (if (= p.type :oversized) (refuse! s topic (.. p.size " bytes (max 69632)"))
        (not= p.type :publish) nil
        (= (topic:sub 1 (+ (length s.prefix) 4)) (.. s.prefix "set/")) (on-set s topic p.payload)
        s.synced? nil
        (and (= topic s.status) (not p.retain) (= p.payload :online))
        ;; The echo of our own status: every retained message has come.
        (do (set s.synced? true)
            (s.c:subscribe [(.. s.prefix "set/#")] 1)
            (s.c:unsubscribe [(.. s.prefix "#")])
            (each [t (pairs s.want)] (tset s.dirty t true))
            (each [t (pairs s.sent)] (tset s.dirty t true))
            (each [svc tree (pairs s.incoming)]
              (when (or (next tree) (. s.remote-seen svc))
                (tset s.remote-seen svc true)
                (tset s.remote-dirty svc tree)))
            (set-state! s :online)
            (schedule! s))
        (and p.retain (not= p.payload "") (not= topic s.status)
             (= (topic:sub 1 (length s.prefix)) s.prefix))
        (tset s.sent topic p.payload))))

(fn on-connect [s]
  (set s.synced? false)
  (set (s.sent s.inflight s.remote-dirty) (values {} {} {}))
  (set s.incoming (collect [svc (pairs s.opts.set)] (values svc {})))
  (set-state! s :syncing)
  (s.c:batch #(do (s.c:subscribe [(.. s.prefix "#")] 1)
                  (s.c:publish s.status :online 1 true)))
  (let [c s.c n c.connects]
    ;; No echo: the broker's ACL does not let us write or read our topics.
    (upd.after 30 #(when (and (not s.synced?) (= n c.connects) (c:connected?))
                     (c:reconnect (.. "no echo of " s.status " in 30 s: may this router"
                                      " write and read " s.prefix "# (the broker's ACL)?")))))
  (publish-self! s))

(fn on-ack [s id]
  (case (. s.inflight id)
    [t ?want] (do (tset s.inflight id nil) (tset s.sent t ?want)))
  (schedule! s))

(fn on-disconnect [s why]
  (set s.synced? false)
  (set-state! s (if s.stopping? :stopped :offline) why)
  (publish-self! s)
  (when s.stopping? (upd.stop)))

(fn stop! [s]
  (set s.stopping? true)
  (if (s.c:connected?)
      (do (s.c:publish s.status :offline 1 true) (s.c:stop))
      (do (s.c:stop) (upd.stop))))

(fn new [opts]
  (let [name (or opts.name (upd.service-name "mqtt-bridge"))
        s {: opts : name :id opts.id :prefix (.. "upd/" opts.id "/") :status (.. "upd/" opts.id "/status")
           :state :connecting :refused 0 :want {} :sent {} :dirty {} :topics {} :subs {}
           :inflight {} :incoming {} :remote-dirty {} :remote-seen {} :remote-text {} :remote-good {}
           :waiting {}}]
    (set s.incoming (collect [svc (pairs opts.set)] (values svc {})))
    (set s.c (client.new {:broker opts.broker :id (.. "upd-" opts.id) :keepalive opts.keepalive
                          :ca opts.ca :cert opts.cert :key opts.key :openssl opts.openssl
                          :user opts.user :password opts.password :max-backoff opts.max-backoff
                          :will {:topic s.status :payload :offline :qos 1 :retain true}
                          :on-connect #(on-connect s) :on-message #(on-message s $2)
                          :on-ack #(on-ack s $2) :on-disconnect #(on-disconnect s $2)}))
    s))

(fn start! [s]
  (case (s.c:start)
    (nil msg) (do (set-state! s :failed msg) (upd.log :err msg))
    _ (do (rescan! s)
          (when (> (or s.opts.rescan 60) 0) (upd.every (or s.opts.rescan 60) #(rescan! s)))
          (upd.on-signal :TERM #(stop! s))))
  (publish-self! s)
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

;;; The command line

(local usage "usage: mqtt-bridge --broker mqtts://HOST[:PORT] [--id ROUTER-ID] [--ca FILE] [--cert FILE --key FILE] [--user NAME] [--password-file FILE] [--services A,B,...] [--set SERVICE]... [--keepalive SECS] [--max-backoff SECS] [--rescan SECS] [--openssl PATH] [--name NAME]")

(fn read-first-line [path]
  (case (io.open path)
    f (let [l (f:read :*l)] (f:close) (values (or l "")))
    (nil msg) (values nil msg)))

(fn parse-args [args]
  (let [opts {:set {}}
        valued {"--broker" :broker "--id" :id "--ca" :ca "--cert" :cert "--key" :key
                "--user" :user "--password-file" :password-file "--services" :services
                "--set" :set "--keepalive" :keepalive "--max-backoff" :max-backoff
                "--rescan" :rescan "--openssl" :openssl "--name" :name}
        numeric {:keepalive 1 :max-backoff 1 :rescan 0}]
    (var (i err) (values 1 nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) v (. args (+ i 1)) key (. valued a)]
        (if (not key) (set err (.. "unknown argument " a))
            (= nil v) (set err (.. "option " a " needs a value"))
            (and (. numeric key) (not (and (tonumber v) (>= (tonumber v) (. numeric key)))))
            (set err (.. a " must be a number >= " (. numeric key) ", not " v))
            (= key :set) (if (mqtt.topic-level? v) (tset opts.set v true)
                             (set err (.. "--set: bad service name " v)))
            (tset opts key (if (. numeric key) (tonumber v) v)))
        (set i (+ i 2))))
    (when (and (not err) opts.services)
      (let [list opts.services]
        (set opts.services {})
        (each [n (string.gmatch list "[^,]+")]
          (if (mqtt.topic-level? n) (tset opts.services n true)
              (set err (.. "--services: bad service name " n))))))
    (when (and (not err) (not opts.id))
      (set opts.id (read-first-line "/proc/sys/kernel/hostname")))
    (each [_ [flag key] (ipairs [["--password-file" :password-file] ["--key" :key]])]
      (when (and (not err) (. opts key))
        (case (client.secret-file (. opts key)) msg (set err (.. flag ": " msg)))))
    (when (and (not err) opts.password-file)
      (case (read-first-line opts.password-file)
        pw (set opts.password pw)
        (nil msg) (set err (.. "--password-file: " msg))))
    (if err (values nil err)
        (not opts.broker) (values nil "--broker is required")
        (not (mqtt.topic-level? opts.id)) (values nil (.. "bad router id " (string.format "%q" (tostring opts.id))
                                                         " (letters, digits, . _ - :)"))
        (and opts.cert (not opts.key)) (values nil "--cert needs --key")
        (and opts.password (not opts.user)) (values nil "--password-file needs --user")
        (case (client.parse-broker opts.broker)
          (nil msg) (values nil msg)
          _ opts))))

(fn main [args]
  (case (parse-args args)
    (nil msg) (do (io.stderr:write (.. "mqtt-bridge: " msg "\n" usage "\n")) (os.exit usage-exit))
    opts (do (start! (new opts)) (upd.run))))

{: main : new : start! : parse-args : leaves : apply-set!}
