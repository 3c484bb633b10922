;; upd.supervisor: the state machine driven by scripted events and a fake clock,
;; then the shell driven by a mocked `upd` (fake processes, signals, timers).
(local t (require :upd.test))
(local sup (require :upd.supervisor))
(local s (t.suite "supervisor"))

(fn entry [name ?more]
  (let [e {: name :script "svc" :args [] :env {} :private false}]
    (each [k v (pairs (or ?more {}))] (tset e k v))
    e))

(fn kinds [actions]
  (icollect [_ a (ipairs actions)] (if a.name (.. a.do " " a.name) a.do)))

(fn without-publish [actions]
  (icollect [_ a (ipairs actions)] (when (not= a.do :publish) a)))

;; A tiny driver: clock `now`, wall = 1000 + now.
(fn driver [entries ?opts]
  (let [st (sup.new-state ?opts)
        d {:st st :now 0}]
    (fn d.ev [self event]
      (without-publish (sup.step self.st event self.now (+ 1000 self.now))))
    (fn d.svc [self name] (. self.st.services name))
    (set d.first (d:ev {:type :load : entries}))
    d))

(s:test "load starts every service at once"
        #(let [d (driver [(entry :a) (entry :b)])]
           (t.is= ["spawn a" "spawn b"] (kinds d.first))
           (t.is= :starting (. (d:svc :a) :state))
           (d:ev {:type :spawned :name :a :pid 10})
           (t.is= :running (. (d:svc :a) :state))
           (t.is= 10 (. (d:svc :a) :pid))))

(s:test "every step asks for a publish"
        #(let [st (sup.new-state)]
           (t.is= ["spawn a" "publish"]
                  (kinds (sup.step st {:type :load :entries [(entry :a)]} 0 0)))))

(s:test "ready marks the service ready, only for its current pid"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 10})
           (d:ev {:type :ready :name :a :pid 99})
           (t.is= :running (. (d:svc :a) :state))
           (set d.now 3)
           (d:ev {:type :ready :name :a :pid 10})
           (t.is= :ready (. (d:svc :a) :state))
           (t.is= 1003 (. (d:svc :a) :since))))

(s:test "a crashing script is withdrawn and restarted with doubling delays"
        #(let [d (driver [(entry :a)])
               delays []]
           (for [i 1 5]
             (d:ev {:type :spawned :name :a :pid i})
             (set d.now (+ d.now 0.5))
             (let [acts (d:ev {:type :exited :name :a :pid i :status {:pid i :code 1}})]
               (t.is= ["withdraw a" "schedule a"] (kinds acts))
               (table.insert delays (. acts 2 :delay))
               (t.is= :backoff (. (d:svc :a) :state))
               (t.is= "exit 1" (. (d:svc :a) :last-exit))
               (set d.now (+ d.now (. acts 2 :delay)))
               (t.is= ["spawn a"] (kinds (d:ev {:type :timer :name :a})))))
           (t.is= [1 2 4 8 16] delays)
           (t.is= 5 (. (sup.status-tree d.st) :services :a :restarts))))

(s:test "the delay is capped and resets after a healthy run"
        #(let [d (driver [(entry :a)] {:max 4 :healthy-after 10})
               delay (fn [pid run]
                       (d:ev {:type :spawned :name :a :pid pid})
                       (set d.now (+ d.now run))
                       (let [acts (d:ev {:type :exited :name :a :pid pid :status {:pid pid :signal 9}})]
                         (set d.now (+ d.now 100))
                         (d:ev {:type :timer :name :a})
                         (. acts 2 :delay)))]
           (t.is= [1 2 4 4] (icollect [i (ipairs [1 2 3 4])] (delay i 1)))
           (t.is= 1 (delay 5 10) "a 10 s run is healthy")
           (t.is= "signal 9" (. (d:svc :a) :last-exit))))

(s:test "exits of stale pids and stale timers are ignored"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 10})
           (t.is= [] (d:ev {:type :exited :name :a :pid 11 :status {:code 0}}))
           (t.is= [] (d:ev {:type :timer :name :a}))
           (t.is= :running (. (d:svc :a) :state))))

(s:test "a failed spawn backs off like an exit"
        #(let [d (driver [(entry :a)])
               acts (d:ev {:type :spawn-failed :name :a :msg "ENOENT"})]
           (t.is= ["withdraw a" "schedule a"] (kinds acts))
           (t.is= "spawn failed: ENOENT" (. (d:svc :a) :last-exit))))

(s:test "stop kills and does not restart until start"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 10})
           (let [acts (d:ev {:type :control :cmd :stop :name :a})]
             (t.is= ["kill a"] (kinds acts))
             (t.is= 5 (. acts 1 :timeout)))
           (t.is= :stopping (. (d:svc :a) :state))
           (t.is= ["withdraw a"] (kinds (d:ev {:type :exited :name :a :pid 10 :status {:pid 10 :signal 15}})))
           (t.is= :stopped (. (d:svc :a) :state))
           (t.is= [] (d:ev {:type :timer :name :a}))
           (t.is= ["spawn a"] (kinds (d:ev {:type :control :cmd :start :name :a})))))

(s:test "stop during backoff cancels the timer"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 10})
           (d:ev {:type :exited :name :a :pid 10 :status {:code 1}})
           (t.is= ["cancel a"] (kinds (d:ev {:type :control :cmd :stop :name :a})))
           (t.is= :stopped (. (d:svc :a) :state))))

(s:test "restart kills then spawns at once, without backoff"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 10})
           (t.is= ["kill a"] (kinds (d:ev {:type :control :cmd :restart :name :a})))
           (t.is= [] (d:ev {:type :control :cmd :restart :name :a}) "one kill is enough")
           (t.is= ["withdraw a" "spawn a"]
                  (kinds (d:ev {:type :exited :name :a :pid 10 :status {:signal 15}})))
           (t.is= ["cancel a" "spawn a"]
                  (kinds (do (d:ev {:type :spawned :name :a :pid 11})
                             (d:ev {:type :exited :name :a :pid 11 :status {:code 1}})
                             (d:ev {:type :control :cmd :restart :name :a}))))))

(s:test "control of an unknown service is logged, not fatal"
        #(let [d (driver [(entry :a)])
               acts (d:ev {:type :control :cmd :stop :name :zz})]
           (t.is= ["log"] (kinds acts))
           (t.is (: (. acts 1 :msg) :find "zz: no such service"))))

(s:test "reload: new start, removed stop, changed restart, others untouched"
        #(let [d (driver [(entry :keep) (entry :gone) (entry :change) (entry :idle)])]
           (d:ev {:type :spawned :name :keep :pid 1})
           (d:ev {:type :spawned :name :gone :pid 2})
           (d:ev {:type :spawned :name :change :pid 3})
           (d:ev {:type :spawn-failed :name :idle :msg "x"})
           (let [acts (d:ev {:type :load
                             :entries [(entry :keep) (entry :change {:args ["new"]})
                                       (entry :idle {:env {:A "1"}}) (entry :new)]})]
             (t.is= ["cancel idle" "kill change" "kill gone" "spawn idle" "spawn new"]
                    (doto (kinds acts) (table.sort))))
           (t.is= :running (. (d:svc :keep) :state))
           (t.is= ["withdraw gone"] (kinds (d:ev {:type :exited :name :gone :pid 2 :status {:signal 15}})))
           (t.is= nil (d:svc :gone))
           (t.is= nil (. (sup.status-tree d.st) :services :gone))
           (t.is= ["withdraw change" "spawn change"]
                  (kinds (d:ev {:type :exited :name :change :pid 3 :status {:signal 15}})))
           (t.is= ["new"] (. (d:svc :change) :spec :args))))

(s:test "a service removed then re-added while stopping comes back"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 1})
           (d:ev {:type :load :entries []})
           (t.is= [] (d:ev {:type :load :entries [(entry :a)]}))
           (t.is= ["withdraw a" "spawn a"] (kinds (d:ev {:type :exited :name :a :pid 1 :status {:code 0}})))))

(s:test "shutdown kills everything and exits once all are reaped"
        #(let [d (driver [(entry :a) (entry :b) (entry :c)])]
           (d:ev {:type :spawned :name :a :pid 1})
           (d:ev {:type :spawned :name :b :pid 2})
           (d:ev {:type :spawn-failed :name :c :msg "x"})
           (t.is= ["cancel c" "kill a" "kill b"] (doto (kinds (d:ev {:type :shutdown})) (table.sort)))
           (t.is= [] (d:ev {:type :load :entries [(entry :d)]}) "no reload while stopping")
           (t.is= [] (d:ev {:type :control :cmd :start :name :c}))
           (t.is= ["withdraw a"] (kinds (d:ev {:type :exited :name :a :pid 1 :status {:code 0}})))
           (t.is= ["withdraw b" "exit"] (kinds (d:ev {:type :exited :name :b :pid 2 :status {:code 0}})))
           (t.is= :stopped (. (d:svc :b) :state))))

(s:test "shutdown with nothing running exits at once"
        #(let [d (driver [])]
           (t.is= ["exit"] (kinds (d:ev {:type :shutdown})))))

(s:test "status tree has state, pid, restarts, since, last-exit"
        #(let [d (driver [(entry :a)])]
           (d:ev {:type :spawned :name :a :pid 42})
           (t.is= {:services {:a {:state :running :pid 42 :restarts 0 :since 1000}} :config "f"}
                  (sup.status-tree d.st {:config "f"}))))

(s:test "command-of: module vs path, env, user, notify, death signal, group"
        #(do (t.is= {:argv ["/bin/up" "-m" "pppoe" "eth0"] :notify true :user "pppd"
                     :env {:K "v" :UPD_SERVICE "p" :UPD_ROOT "/r" :UPD_PRIVATE "1"}
                     :death-signal :KILL :extra-group 77}
                    (sup.command-of {:name "p" :script "pppoe" :args ["eth0"] :env {:K "v"}
                                     :user "pppd" :private true}
                                    "/bin/up" "/r" 77))
             (t.is= nil (. (sup.command-of {:name "r" :script "x" :args [] :env {}} "/b" "/r" 77)
                           :extra-group)
                    "only a :user script keeps the publishers' group")
             (t.is= ["/bin/up" "/etc/x.fnl" "1"]
                    (. (sup.command-of {:name "x" :script "x.fnl" :path "/etc/x.fnl"
                                        :args ["1"] :env {}} "/bin/up" "/r") :argv))
             (t.is= "16M"
                    (. (sup.command-of {:name "m" :script "pppoe" :args [] :env {}
                                        :memory-limit "16M"} "/bin/up" "/r")
                       :env :UPD_MEMORY_LIMIT))))

(s:test "parse-control accepts start/stop/restart NAME only"
        #(do (t.is= {:type :control :cmd :stop :name "eth0"} (sup.parse-control "stop eth0"))
             (t.is= {:type :control :cmd :restart :name "a"} (sup.parse-control "  restart a  "))
             (t.is= nil (sup.parse-control "kill a"))
             (t.is= nil (sup.parse-control "stop"))
             (t.is= nil (sup.parse-control "stop a b"))))

;;; Random event streams against invariants (the property the original upd wished for)

(fn random-run [seed steps]
  (math.randomseed seed)
  (let [st (sup.new-state)
        live {}            ; name -> pid of the process the world runs for it
        ready {}
        timers {}          ; name -> true when a timer is pending
        names [:a :b :c :d]
        args-of {}
        problems []
        problem (fn [msg] (table.insert problems (.. "seed " seed ": " msg)))]
    (var next-pid 1)
    (var exits 0)
    (var shutdown? false)
    (var now 0)
    (fn config []
      (icollect [_ n (ipairs names)]
        (when (< (math.random) 0.7)
          (entry n {:args [(tostring (or (. args-of n) 0))]}))))
    (var feed nil)
    (fn perform [a]
      (case a.do
        :spawn (do (when (. live a.name) (problem (.. "spawn of " a.name " while it runs")))
                   (when shutdown? (problem (.. "spawn of " a.name " after shutdown")))
                   (if (< (math.random) 0.1)
                       (feed {:type :spawn-failed :name a.name :msg "x"})
                       (do (tset live a.name next-pid)
                           (set next-pid (+ 1 next-pid))
                           (feed {:type :spawned :name a.name :pid (. live a.name)}))))
        :kill (when (not (. live a.name)) (problem (.. "kill of " a.name " with no process")))
        :schedule (tset timers a.name true)
        :cancel (tset timers a.name nil)
        :exit (do (set exits (+ 1 exits))
                  (when (next live) (problem "exit while processes live")))))
    (set feed (fn [event]
                (each [_ a (ipairs (sup.step st event now (+ 1000 now)))] (perform a))))
    (feed {:type :load :entries (config)})
    (for [_ 1 steps]
      (set now (+ now (math.random)))
      (let [r (math.random)
            running (icollect [n (pairs live)] n)
            waiting (icollect [n (pairs timers)] n)
            pick (fn [xs] (. xs (math.random (# xs))))]
        (if (and (< r 0.35) (> (# running) 0))
            (let [n (pick running) pid (. live n)]
              (tset live n nil)
              (feed {:type :exited :name n : pid :status {: pid :code 1}})
              (when (. live n) nil))
            (and (< r 0.45) (> (# running) 0))
            (let [n (pick running)] (feed {:type :ready :name n :pid (. live n)}))
            (and (< r 0.6) (> (# waiting) 0))
            (let [n (pick waiting)] (tset timers n nil) (feed {:type :timer :name n}))
            (< r 0.8)
            (feed {:type :control :cmd (pick [:start :stop :restart]) :name (pick names)})
            (< r 0.95)
            (do (let [n (pick names)] (tset args-of n (+ 1 (or (. args-of n) 0))))
                (feed {:type :load :entries (config)}))
            (< r 0.97)
            (do (set shutdown? true) (feed {:type :shutdown}))
            nil)
        ;; the model agrees with the world
        (each [n svc (pairs st.services)]
          (when (not= svc.pid (. live n))
            (problem (.. n ": state pid " (tostring svc.pid) ", world " (tostring (. live n)))))
          (when (and (. live n) (not (. {:running true :ready true :stopping true} svc.state)))
            (problem (.. n ": has a process but state " svc.state))))
        (each [n (pairs live)]
          (when (not (. st.services n)) (problem (.. n ": process of a forgotten service"))))))
    ;; finally: stop everything and let every process die
    (set shutdown? true)
    (feed {:type :shutdown})
    (each [n pid (pairs live)]
      (tset live n nil)
      (feed {:type :exited :name n : pid :status {: pid :signal 15}}))
    (when (not= 1 exits) (problem (.. "exit actions: " exits)))
    problems))

(s:test "random event streams keep the invariants"
        #(let [problems []]
           (for [seed 1 200]
             (each [_ p (ipairs (random-run seed 150))] (table.insert problems p)))
           (t.is= [] (icollect [i p (ipairs problems)] (when (<= i 5) p)))))

;;; The shell, with a mocked upd

(fn fake-upd []
  (let [u {:spawned [] :published {} :withdrawn [] :logs [] :timers {} :signals {}
           :killed [] :t 0 :next-pid 100 :stopped? false :next-timer 0 :upd-states []}]
    (fn u.now [] u.t)
    (fn u.root [] "/r")
    (fn u.read [] nil)
    (fn u.owner [] 0)
    (set u.claimed [])
    (fn u.claim [name user group private?]
      (table.insert u.claimed [name (or user :me) private?])
      (if (= user "nobody") 65534 0))
    (fn u.prepare-root [] (values false ""))
    (fn u.lock-root [] 0)
    (fn u.kill-orphans [grace] (set u.orphan-grace grace))
    (fn u.log-dropped [] 0)
    (fn u.self-exe [] "/bin/upscript")
    (fn u.spawn [spec]
      (if (= (. spec.argv 3) "broken")
          (values nil "no such file")
          (let [h {:pid u.next-pid : spec}]
            (set u.next-pid (+ 1 u.next-pid))
            (table.insert u.spawned h)
            h)))
    (fn u.terminate [h] (table.insert u.killed h.pid))
    (fn u.publish [name tree]
      (when (= name :upd) (table.insert u.upd-states (tostring tree.state)))
      (tset u.published name tree)
      true)
    (fn u.ready [] (set u.ready-after-spawns (# u.spawned)) true)
    (fn u.withdraw [name] (table.insert u.withdrawn name) (tset u.published name nil))
    (fn u.log [level msg] (table.insert u.logs (.. level " " msg)))
    (fn u.after [secs f]
      (set u.next-timer (+ 1 u.next-timer))
      (tset u.timers u.next-timer {:at (+ u.t secs) : f})
      u.next-timer)
    (fn u.cancel [id] (tset u.timers id nil))
    (fn u.on-signal [name f] (tset u.signals name f))
    (fn u.fifo [path f] (set u.fifo-path path) (set u.control f) 1)
    (fn u.stop [] (set u.stopped? true))
    ;; The loop: runs the scripted callbacks until upd.stop. Entered again
    ;; (after an error the supervisor caught), it returns at once.
    (fn u.run []
      (when (not u.ran?)
        (set u.ran? true)
        (each [_ f (ipairs u.script) &until u.stopped?] (f)))
      true)
    (fn u.advance [secs]
      (set u.t (+ u.t secs))
      (each [id tm (pairs u.timers)]
        (when (<= tm.at u.t) (tset u.timers id nil) (tm.f))))
    u))

(local script-file (os.tmpname))
(with-open [out (io.open script-file :w)] (out:write ";; a test service\n"))

(fn with-script [text] (pick-values 1 (text:gsub "/bin/x.fnl" script-file)))

(fn with-services-file [text f]
  (let [path (os.tmpname)]
    (with-open [out (io.open path :w)] (out:write (with-script text)))
    (let [(ok? err) (pcall f path)]
      (os.remove path)
      (when (not ok?) (error err 0)))))

(fn run-shell [u file ?errors-expected?]
  (let [saved package.loaded.upd]
    (tset package.loaded :upd u)
    (let [(ok? r1 r2) (pcall sup.run file)]
      (tset package.loaded :upd saved)
      (when (not ok?) (error r1 0))
      ;; The supervisor catches errors (a failed check inside the scripted
      ;; loop too): they must not pass unseen.
      (when (not ?errors-expected?)
        (each [_ l (ipairs u.logs)]
          (when (l:find "^err internal error") (error l 0))))
      (values r1 r2))))

(s:test "shell: spawns, restarts after a crash, obeys control, stops on TERM"
        #(with-services-file
           "[{:name \"a\" :script \"/bin/x.fnl\" :args [\"1\"]}]"
           (fn [file]
             (let [u (fake-upd)
                   seen {}]
               (set u.script
                    [#(let [h (. u.spawned 1)]
                        (t.is= ["/bin/upscript" script-file "1"] h.spec.argv)
                        (t.is= "a" h.spec.env.UPD_SERVICE)
                        (t.is= "/r/.control" u.fifo-path)
                        (t.is= :running (. u.published.upd :services :a :state))
                        ;; `starting` first (before the file is read), then running.
                        (t.is= "starting" (. u.upd-states 1))
                        (t.is= "running" (. u.published.upd :state))
                        (t.is= 1 u.ready-after-spawns "ready (NOTIFY_FD) once the file's services are started")
                        (h.spec.on-ready)
                        (t.is= :ready (. u.published.upd :services :a :state))
                        ;; The script's output is not relayed through us.
                        (t.is= :inherit h.spec.output)
                        (t.is= nil h.spec.on-line)
                        (h.spec.on-exit {:pid h.pid :code 3})
                        (t.is= ["a" "a"] u.withdrawn "stale ones at start (upd is claimed), then a's")
                        (t.is= :backoff (. u.published.upd :services :a :state))
                        (t.is= "exit 3" (. u.published.upd :services :a :last-exit))
                        (u.advance 1)
                        (t.is= 2 (# u.spawned) "restarted after 1 s"))
                     #(do (u.control "stop a")
                          (t.is= [101] u.killed)
                          (let [h (. u.spawned 2)] (h.spec.on-exit {:pid h.pid :signal 15}))
                          (t.is= :stopped (. u.published.upd :services :a :state))
                          (u.advance 60)
                          (t.is= 2 (# u.spawned) "no restart after stop")
                          (u.control "start a")
                          (t.is= 3 (# u.spawned)))
                     #(do ((. u.signals :TERM))
                          (t.is= [101 102] u.killed)
                          (t.is (not u.stopped?) "waits for the exit")
                          (let [h (. u.spawned 3)] (h.spec.on-exit {:pid h.pid :signal 15}))
                          (set seen.stopped? u.stopped?))])
               (t.is= true (run-shell u file))
               (t.is= 3 (# u.spawned))
               (t.is seen.stopped? "upd.stop once all were reaped")
               (t.is= nil u.published.upd "the supervisor withdraws its own tree")))))

(s:test "shell: SIGHUP reloads; a bad file keeps the current set"
        #(let [path (os.tmpname)
               write (fn [text] (with-open [out (io.open path :w)] (out:write (with-script text))))
               u (fake-upd)]
           (write "[{:name \"a\" :script \"/bin/x.fnl\"}]")
           (set u.script
                [#(do (write "[{:name \"a\" :script \"/bin/x.fnl\"}\n{:name \"b\" :script \"/bin/x.fnl\"}]")
                      ((. u.signals :HUP))
                      (t.is= 2 (# u.spawned))
                      (t.is= "b" (. u.spawned 2 :spec :env :UPD_SERVICE)))
                 #(do (write "[{:name \"b\" :script \"/bin/x.fnl\"}\n{:name 3}]")
                      ((. u.signals :HUP))
                      (t.is (: (. u.logs (# u.logs)) :find (.. path ":2: :name must be a string")))
                      (t.is= [] u.killed "nothing changes on a bad file"))
                 #(do (write "[{:name \"b\" :script \"/bin/x.fnl\"}]")
                      ((. u.signals :HUP))
                      (t.is= [100] u.killed "a is removed"))
                 #(do (set u.reached-end? true) (u.stop))])
           (run-shell u path)
           (os.remove path)
           (t.is u.reached-end? "the scripted loop ran to its end")))

(s:test "shell: a bad services file at start is an error, not a loop"
        #(with-services-file "[{:name \"a\"}]"
           (fn [file]
             (let [u (fake-upd)
                   (ok msg) (run-shell u file)]
               (t.is= nil ok)
               (t.is= (.. file ":1: missing :script") msg)
               (t.is= ["starting"] u.upd-states)
               (t.is= nil u.published.upd "the `starting` tree is withdrawn")
               (t.is= nil u.ready-after-spawns)
               (t.is= 0 (# u.spawned))))))

(s:test "shell: claims each name before its script, withdraws a dead supervisor's trees"
        #(with-services-file
           "[{:name \"a\" :script \"/bin/x.fnl\"} {:name \"n\" :script \"/bin/x.fnl\" :user \"nobody\"}]"
           (fn [file]
             (let [u (fake-upd)]
               (set u.read (fn [name path]
                             (when (and (= name :upd) (= path :services)) {:old {} :a {}})))
               (set u.prepare-root (fn [] (values 99 "")))
               (set u.script [#(u.stop)])
               (run-shell u file)
               (table.sort u.withdrawn)
               (t.is= ["a" "n" "old" "upd"] u.withdrawn
                      "the old tree's services and ours (and our upd tree at the end)")
               (t.is= [["upd" :me false] ["a" :me false] ["n" "nobody" false]] u.claimed
                      "upd claimed (not only withdrawn) before anything is published")
               (t.is= 99 (. u.spawned 2 :spec :extra-group))
               (t.is= :KILL (. u.spawned 1 :spec :death-signal))
               (t.is= 5 u.orphan-grace "orphans of dead scripts get the stop timeout")))))

(s:test "shell: a :user service with no publishers' group fails to spawn, visibly"
        #(with-services-file "[{:name \"n\" :script \"/bin/x.fnl\" :user \"nobody\"}]"
           (fn [file]
             (let [u (fake-upd)
                   seen {}]
               (set u.script [#(do (set seen.le (. u.published.upd :services :n :last-exit))
                                   (u.stop))])
               (run-shell u file)
               (t.is= 0 (# u.spawned))
               (t.is (: (tostring seen.le) :find "no group may write /r") seen.le)))))

(s:test "shell: an error in the shell is logged and the supervisor goes on"
        #(with-services-file
           "[{:name \"a\" :script \"/bin/x.fnl\"} {:name \"b\" :script \"/bin/x.fnl\"}]"
           (fn [file]
             (let [u (fake-upd)
                   spawn u.spawn
                   runs []]
               (set u.spawn (fn [spec]
                              (if (= spec.env.UPD_SERVICE "a") (error "boom in spawn") (spawn spec))))
               (set u.script [#(do (table.insert runs 1) (error "boom in a handler"))
                              #(do (table.insert runs 2) (u.stop))])
               ;; upd.run raising is caught and the loop entered again
               (set u.run (fn [] (when (= 0 (# runs)) ((. u.script 1))) ((. u.script 2)) true))
               (t.is= true (run-shell u file true))
               (t.is= 1 (# u.spawned) "b was spawned although a's spawn raised")
               (t.is (accumulate [found false _ l (ipairs u.logs)]
                       (or found (not= nil (l:find "^err internal error: .*boom in spawn")))))
               (t.is (accumulate [found false _ l (ipairs u.logs)]
                       (or found (not= nil (l:find "^err internal error: .*boom in a handler")))))
               (t.is= [1 2] runs)))))

(s:test "shell: no `running` tree without the file's services (a console's first `upd status`)"
        #(with-services-file "[{:name \"a\" :script \"/bin/x.fnl\"}]"
           (fn [file]
             (let [u (fake-upd)
                   seen []
                   publish u.publish]
               ;; state and whether service a is listed, per publish of `upd`
               (set u.publish (fn [name tree]
                                (when (= name :upd)
                                  (table.insert seen (.. (tostring tree.state) " "
                                                         (tostring (not= nil (?. tree :services :a))))))
                                (publish name tree)))
               (set u.script [#(u.stop)])
               (run-shell u file)
               (t.is= "starting false" (. seen 1))
               (t.is= "running true" (. seen (# seen)))
               (each [_ s (ipairs seen)]
                 (t.is (not= s "running false") (.. "published: " (table.concat seen ", "))))))))

(os.remove script-file)
(s:test "shell: refuses to run beside a live supervisor of the same root"
        #(with-services-file "[]"
           (fn [file]
             (let [u (fake-upd)
                   _ (set u.lock-root (fn [] (values nil "cannot lock /r/.supervisor: another supervisor holds it")))
                   (ok msg) (run-shell u file)]
               (t.is= nil ok)
               (t.is= "another supervisor is running under /r (cannot lock /r/.supervisor: another supervisor holds it)" msg)
               (t.is= nil u.fifo-path "the FIFO is left to the other one")
               (t.is= [] u.withdrawn "nothing of the other one's is touched")))))

(s:done)
