;; upd.supervisor: `upd run`, the supervisor of the scripts in the services file.
;; Publishes: service `upd`: `config`, `pid`, and per service
;;   `services/<name>/{state,pid,restarts,since,last-exit}`.
;; Withdraws the tree of a service whose script died, so stale state is never
;; taken as live. Reads commands from the FIFO `$UPD_ROOT/.control`.
;;
;; Owning the truth (docs/upd.md, "Trust"): one supervisor per root (the
;; kernel's lock on `.supervisor`, never a pid file); at start, every tree
;; a supervisor had claimed is withdrawn; each service's name is claimed
;; (`.<name>/` made fresh, owned by the user it runs as) right before its
;; script starts; scripts die with the supervisor (SIGKILL as their
;; parent-death signal); processes a dead script left behind (re-parented to
;; us) get TERM, then KILL after the stop timeout. An error in the shell is
;; logged as `internal error` and the supervisor goes on.
;;
;; The state machine lives in `step` alone: (step state event now wall) mutates
;; only `state` and returns a sequence of actions; `run` is the impure shell
;; that turns signals, exits, timers and FIFO lines into events and carries out
;; the actions. Per service:
;;
;;   starting --spawned--> running --ready--> ready
;;   starting/running/ready --exited--> backoff --timer--> starting
;;                                    \-> stopped (stop requested or shutdown)
;;   any with a process --stop/restart/reload/shutdown--> stopping --exited-->
;;     starting (restart, changed entry), stopped (stop, shutdown) or removed.
;;
;; `svc.after` says what the exit of a process we killed leads to:
;; :restart, :replace (with svc.next-spec), :remove, or nil (stopped/backoff).

(local policy (require :upd.policy))
(local config (require :upd.config))

(local default-opts {:initial 1 :max 60 :healthy-after 10 :stop-timeout 5})

;;; The pure part

(fn new-state [?opts]
  (let [opts (collect [k v (pairs default-opts)] (values k v))]
    (each [k v (pairs (or ?opts {}))] (tset opts k v))
    {:services {} : opts :shutdown? false :exited? false}))

(fn exit-text [status]
  (if (= (type status) :string) status
      (and status status.signal) (.. "signal " status.signal)
      (and status status.code) (.. "exit " status.code)
      "exit ?"))

(fn has-process? [svc]
  (or (= svc.state :starting) (= svc.state :running) (= svc.state :ready)
      (= svc.state :stopping)))

(fn spawn! [state name svc now wall actions]
  (policy.on-start svc.policy now)
  (set svc.spawns (+ 1 svc.spawns))
  (set svc.state :starting)
  (set svc.pid nil)
  (set svc.since wall)
  (table.insert actions {:do :spawn : name :spec svc.spec}))

(fn kill! [state name svc after actions]
  (set svc.after after)
  (when (not= svc.state :stopping)
    (set svc.state :stopping)
    (table.insert actions {:do :kill : name
                           :timeout (or svc.spec.stop-timeout state.opts.stop-timeout)})))

(fn cancel-backoff! [name svc actions]
  (when (= svc.state :backoff)
    (table.insert actions {:do :cancel : name})
    (policy.cancel svc.policy)))

(fn add-service! [state entry now wall actions]
  (let [svc {:spec entry :spawns 0 :want :up :state :stopped :since wall
             :policy (policy.new {:initial state.opts.initial :max state.opts.max
                                  :healthy-after state.opts.healthy-after})}]
    (tset state.services entry.name svc)
    (spawn! state entry.name svc now wall actions)))

(fn maybe-exit! [state actions]
  (when (and state.shutdown? (not state.exited?)
             (= nil (accumulate [busy nil _ svc (pairs state.services) &until busy]
                      (when (has-process? svc) svc))))
    (set state.exited? true)
    (table.insert actions {:do :exit})))

(fn on-exit! [state name svc status now wall actions]
  (set svc.pid nil)
  (set svc.last-exit (exit-text status))
  (set svc.since wall)
  (table.insert actions {:do :withdraw : name})
  (let [after svc.after]
    (set svc.after nil)
    (if (= after :remove)
        (tset state.services name nil)
        (= after :replace)
        (do (set svc.spec svc.next-spec)
            (set svc.next-spec nil)
            (policy.cancel svc.policy)
            (if (= svc.want :up) (spawn! state name svc now wall actions)
                (set svc.state :stopped)))
        (and (= after :restart) (not state.shutdown?))
        (do (policy.cancel svc.policy)
            (spawn! state name svc now wall actions))
        (or (= svc.want :down) state.shutdown?)
        (set svc.state :stopped)
        (let [delay (policy.on-exit svc.policy now)]
          (set svc.state :backoff)
          (table.insert actions {:do :schedule : name : delay})))))

(fn load! [state entries now wall actions]
  (let [wanted (collect [_ e (ipairs entries)] (values e.name e))]
    (each [name svc (pairs state.services)]
      (when (= nil (. wanted name))
        (if (has-process? svc)
            (kill! state name svc :remove actions)
            (do (cancel-backoff! name svc actions)
                (tset state.services name nil)))))
    (each [_ entry (ipairs entries)]
      (let [name entry.name
            svc (. state.services name)]
        (if (= nil svc)
            (add-service! state entry now wall actions)
            (let [current (if (= svc.after :replace) svc.next-spec
                              (= svc.after :remove) nil
                              svc.spec)]
              (when (not (config.same-entry? current entry))
                (if (has-process? svc)
                    (if (config.same-entry? svc.spec entry)
                        ;; changed back while stopping: run it again as is
                        (set svc.after :restart)
                        (do (set svc.next-spec entry)
                            (kill! state name svc :replace actions)))
                    (do (set svc.spec entry)
                        (when (= svc.want :up)
                          (cancel-backoff! name svc actions)
                          (spawn! state name svc now wall actions)))))))))))

(fn control! [state cmd name now wall actions]
  (let [svc (. state.services name)]
    (if (= nil svc)
        (table.insert actions {:do :log :level :warn
                               :msg (.. "control: " cmd " " name ": no such service")})
        (= svc.after :remove)
        (table.insert actions {:do :log :level :warn
                               :msg (.. "control: " cmd " " name ": being removed")})
        (= cmd :stop)
        (do (set svc.want :down)
            (if (has-process? svc)
                (when (not= svc.after :replace)
                  (kill! state name svc nil actions))
                (do (cancel-backoff! name svc actions)
                    (set svc.state :stopped)
                    (set svc.since wall))))
        (= cmd :start)
        (do (set svc.want :up)
            (if (has-process? svc)
                (when (= svc.after nil) (set svc.after :restart))
                (do (cancel-backoff! name svc actions)
                    (spawn! state name svc now wall actions))))
        (= cmd :restart)
        (do (set svc.want :up)
            (if (has-process? svc)
                (when (not= svc.after :replace) (kill! state name svc :restart actions))
                (do (cancel-backoff! name svc actions)
                    (spawn! state name svc now wall actions))))
        (table.insert actions {:do :log :level :warn
                               :msg (.. "control: unknown command " (tostring cmd))}))))

(fn shutdown! [state wall actions]
  (set state.shutdown? true)
  (each [name svc (pairs state.services)]
    (set svc.want :down)
    (if (has-process? svc)
        (kill! state name svc (if (= svc.after :remove) :remove nil) actions)
        (do (cancel-backoff! name svc actions)
            (when (not= svc.state :stopped)
              (set svc.state :stopped)
              (set svc.since wall))))))

(fn current-pid? [svc pid]
  (and svc (not= nil svc.pid) (= svc.pid pid)))

(fn step [state event now wall]
  "Feeds one event to the state machine; returns the actions to carry out."
  (let [actions []
        name event.name
        svc (and name (. state.services name))
        kind event.type]
    (if (= kind :load)
        (when (not state.shutdown?) (load! state event.entries now wall actions))
        (= kind :spawned)
        (when (and svc (= svc.state :starting))
          (set svc.pid event.pid)
          (set svc.state :running))
        (= kind :spawn-failed)
        (when (and svc (= svc.state :starting))
          (on-exit! state name svc (.. "spawn failed: " (tostring event.msg)) now wall actions))
        (= kind :exited)
        (when (current-pid? svc event.pid)
          (on-exit! state name svc event.status now wall actions))
        (= kind :ready)
        (when (and (current-pid? svc event.pid) (= svc.state :running))
          (set svc.state :ready)
          (set svc.since wall))
        (= kind :timer)
        (when (and svc (= svc.state :backoff) (= svc.want :up) (not state.shutdown?))
          (spawn! state name svc now wall actions))
        (= kind :control)
        (when (not state.shutdown?) (control! state event.cmd name now wall actions))
        (= kind :shutdown)
        (shutdown! state wall actions)
        (table.insert actions {:do :log :level :warn
                               :msg (.. "unknown event " (tostring kind))}))
    (maybe-exit! state actions)
    (table.insert actions {:do :publish})
    actions))

(fn status-tree [state ?extra]
  "The tree published as service `upd`."
  (let [tree (collect [k v (pairs (or ?extra {}))] (values k v))]
    (set tree.services
         (collect [name svc (pairs state.services)]
           (values name {:state svc.state :pid svc.pid
                         :restarts (math.max 0 (- svc.spawns 1))
                         :since svc.since :last-exit svc.last-exit})))
    tree))

(fn command-of [spec self root ?publishers]
  "The spawn spec (without callbacks) that runs the service `spec`; a script
run as a `:user` keeps the publishers' group `?publishers` (it may write the
root). Scripts get SIGKILL when the supervisor dies."
  (let [argv (if spec.path [self spec.path] [self "-m" spec.script])
        env (collect [k v (pairs spec.env)] (values k v))]
    (each [_ a (ipairs spec.args)] (table.insert argv a))
    (set env.UPD_SERVICE spec.name)
    (set env.UPD_ROOT root)
    (when spec.private (set env.UPD_PRIVATE "1"))
    ;; Read by the child's allocator before any Lua runs (src/lua/memory.rs).
    (when spec.memory-limit (set env.UPD_MEMORY_LIMIT spec.memory-limit))
    {: argv : env :user spec.user :group spec.group :notify true
     :extra-group (when spec.user ?publishers) :death-signal :KILL}))

(fn parse-control [line]
  "A FIFO line as an event, or nil, msg."
  (case (line:match "^%s*(%a+)%s+(%S+)%s*$")
    (where (cmd name) (or (= cmd :start) (= cmd :stop) (= cmd :restart)))
    {:type :control : cmd : name}
    _ (values nil (.. "control: bad line " (string.format "%q" line)))))

;;; The impure shell

(fn self-pid []
  (case (io.open "/proc/self/stat" :r)
    f (let [line (f:read :*l)] (f:close) (tonumber (and line (line:match "^(%d+)"))))
    _ nil))

(fn claim-upd! [upd me]
  "At start, before we publish anything: the names a dead supervisor said it
ran, then `upd` claimed as ours. The dead one's list is believed only if it
wrote it as we would (a squatter's `upd` tree could name others' trees)."
  (let [old (when (= (upd.owner :upd) me) (upd.read :upd :services))]
    ;; Claimed, not just withdrawn: a fresh `.upd/` of ours at once, so no
    ;; user who may write the root can make it first and own our tree.
    (case (upd.claim :upd nil nil false)
      (nil msg) (upd.log :err msg))
    (if (= (type old) :table) old {})))

(fn withdraw-stale! [upd entries old-services]
  "No tree a dead supervisor claimed, and none of a service we are about to
run, may still look live."
  (let [names (collect [_ e (ipairs entries)] (values e.name true))]
    (each [name (pairs old-services)]
      (tset names name true))
    (each [name (pairs names)]
      (case (upd.withdraw name)
        (nil msg) (upd.log :err msg)))))

(fn publishers-group [upd entries]
  "Makes the root safe (never world-writable, sticky when group-writable) and
the gid of the group that may publish in it: needed by `:user` services."
  (let [users? (accumulate [any? false _ e (ipairs entries)] (or any? (not= nil e.user)))
        (gid notes) (upd.prepare-root (when users? :upd))]
    (when (not= notes "") (upd.log (if gid :warn :err) (.. (upd.root) ": " notes)))
    (when gid gid)))

(fn load-entries [file]
  ;; The Fennel compiler is only needed while reading the file: drop it after.
  (let [had-fennel? (not= nil package.loaded.fennel)
        (entries msg) (config.load-file file)]
    (when (not had-fennel?)
      (tset package.loaded :fennel nil)
      (collectgarbage))
    (values entries msg)))

(fn run [file ?opts]
  "Supervises the services of `file` until SIGTERM/SIGINT (never returns as PID 1)."
  (let [upd (require :upd)
        opts (or ?opts {})
        state (new-state opts)
        handles {}
        timers {}
        pid1? (= 1 (self-pid))
        self (upd.self-exe)
        root (upd.root)
        extra {:config file :pid (self-pid) :state "running"}]
    (var old-services {})
    (var dirty? false)
    (var depth 0)
    (var perform nil)
    (var publishers nil)
    (var me nil)
    (fn internal-error [err]
      (upd.log :err (.. "internal error: " (tostring err)))
      (when debug.traceback (upd.log :debug (debug.traceback))))
    (fn feed [event]
      ;; An error here is ours, never the service's: logged, and the
      ;; supervisor goes on (as PID 1 it must never exit).
      (set depth (+ depth 1))
      (xpcall #(each [_ action (ipairs (step state event (upd.now) (os.time)))]
                 (xpcall #(perform action) internal-error))
              internal-error)
      (set depth (- depth 1))
      (when (and (= depth 0) dirty?)
        (set dirty? false)
        (set extra.log-dropped (let [n (upd.log-dropped)] (when (> n 0) n)))
        (case (upd.publish :upd (status-tree state extra))
          (nil ?msg) (upd.log :err (.. "publish: " (tostring ?msg))))))
    (fn claim [name spec]
      "The name is ours to give: fresh `.<name>/`, owned by the service's user."
      (let [(uid msg) (upd.claim name spec.user spec.group (= true spec.private))]
        (if (and uid spec.user (not= uid 0) (not= uid me) (not publishers))
            (values nil (.. "cannot run as :user " (tostring spec.user) ": no group"
                            " may write " root " (make a group upd, or the root"
                            " group-writable: docs/state-tree.md)"))
            (values uid msg))))
    (fn spawn-service [name spec]
      (let [cmd (command-of spec self root publishers)]
        (var handle nil)
        ;; A script's output goes where ours goes (the console, or the log of
        ;; whoever runs us), not through us: relaying it line by line would
        ;; let one flooding script take the supervisor's CPU.
        (set cmd.output :inherit)
        (set cmd.on-ready #(feed {:type :ready : name :pid (and handle handle.pid)}))
        (set cmd.on-exit (fn [status]
                           (when (= handle (. handles name)) (tset handles name nil))
                           (feed {:type :exited : name :pid status.pid : status})))
        (case (claim name spec)
          (nil msg) (feed {:type :spawn-failed : name : msg})
          _ (case (upd.spawn cmd)
              h (do (set handle h)
                    (tset handles name h)
                    (feed {:type :spawned : name :pid h.pid}))
              (nil ?msg) (feed {:type :spawn-failed : name :msg (or ?msg "unknown error")})))))
    (set perform
         (fn [a]
           (case a.do
             :spawn (spawn-service a.name a.spec)
             :kill (case (. handles a.name) h (upd.terminate h a.timeout))
             :withdraw (case (upd.withdraw a.name)
                         (nil msg) (upd.log :err msg))
             :schedule (tset timers a.name
                             (upd.after a.delay #(do (tset timers a.name nil)
                                                     (feed {:type :timer :name a.name}))))
             :cancel (case (. timers a.name)
                       id (do (upd.cancel id) (tset timers a.name nil)))
             :publish (set dirty? true)
             :log (upd.log a.level a.msg)
             :exit (if pid1?
                       (upd.log :warn "all services stopped; PID 1 stays to reap")
                       (upd.stop)))))
    (fn reload []
      (case (load-entries file)
        entries (do (upd.log :info (.. "reloading " file))
                    (set publishers (publishers-group upd entries))
                    (feed {:type :load : entries}))
        (nil msg) (upd.log :err (.. msg " (keeping the current services)"))))
    (fn listen! []
      (upd.on-signal :HUP reload)
      (upd.on-signal :TERM #(feed {:type :shutdown}))
      (upd.on-signal :INT #(feed {:type :shutdown}))
      (case (upd.fifo (.. root "/.control")
                      (fn [line]
                        (case (parse-control line)
                          event (feed event)
                          (nil msg) (upd.log :warn msg))))
        (nil msg) (upd.log :err (.. "control FIFO: " (tostring msg)))))
    (fn supervise [entries]
      (set publishers (publishers-group upd entries))
      (withdraw-stale! upd entries old-services)
      ;; still `starting` (no services yet): a `running` tree without them
      ;; would make `upd status` on a console show an empty list until the
      ;; load below publishes.
      (upd.publish :upd (status-tree state {:config file :pid extra.pid :state "starting"}))
      (listen!)
      ;; Nothing a dead script started outlives it: what it leaves is
      ;; re-parented to us (a subreaper) and told to go.
      (upd.kill-orphans state.opts.stop-timeout)
      (upd.log :info (.. "supervising " (# entries) " services from " file))
      (feed {:type :load : entries})
      (var done? state.exited?)
      ;; Under s6 (notification-fd, NOTIFY_FD): ready once every service of
      ;; the file is started; without NOTIFY_FD this does nothing.
      (upd.ready)
      (while (not done?)
        (case (xpcall upd.run internal-error)
          true (set done? true)))
      (upd.withdraw :upd)
      true)
    (case (upd.lock-root)
      (where (nil msg) (not pid1?))
      (values nil (.. "another supervisor is running under " root " (" msg ")"))
      ?euid (case (do
                    (set me ?euid)
                    (set old-services (claim-upd! upd me))
                    ;; Reading the file loads the Fennel compiler (a second on
                    ;; a slow router): say at once that we are here, so `upd
                    ;; status` on a console waits for us instead of saying
                    ;; nobody runs.
                    (upd.publish :upd (status-tree state {:config file :pid extra.pid :state "starting"}))
                    (load-entries file))
          entries (supervise entries)
          (nil msg) (if pid1?
                        (do (upd.log :err (.. msg " (waiting for SIGHUP)"))
                            (supervise []))
                        (do (upd.withdraw :upd) (values nil msg)))))))

{: new-state : step : status-tree : command-of : parse-control : exit-text : run
 : default-opts}
