;; A fake `upd` module for unit tests: a fake clock with timers, recorded
;; spawns/kills/publishes/writes, and hooks to script events (netlink,
;; subscriptions, process exits). Install with (fake.install!) which puts it in
;; package.loaded.upd; (fake.reset!) clears it between tests, in place, so
;; modules that captured it at load time see the new state.

(local fake {})

(fn deep-copy [x]
  (if (= (type x) :table)
      (collect [k v (pairs x)] (values k (deep-copy v)))
      x))

(local numeric-keys {:__index #(when (= (type $2) :string) (rawget $1 (tonumber $2)))})

(fn stringify [x]
  ;; what upd.read returns: strings everywhere, booleans as yes/no,
  ;; sequences as directories 1, 2 ... read back as integer keys, with a
  ;; metatable that maps "1" to 1 (so that `tree.rdnss.1` works, as in
  ;; docs/api.md); other keys are strings
  (case (type x)
    :table (setmetatable (collect [k v (pairs x)]
                           (let [key (tostring k)]
                             (values (if (key:find "^[1-9]%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?$")
                                         (tonumber key) key)
                                     (stringify v))))
                         numeric-keys)
    :boolean (if x :yes :no)
    _ (tostring x)))

(fn fake.reset! []
  (set fake.clock 0)
  (set fake.timers [])
  (set fake.next-id 0)
  (set fake.spawns [])
  (set fake.missing {})
  (set fake.kills [])
  (set fake.pending [])
  (set fake.published {})
  (set fake.published-private {})
  (set fake.publishes [])
  (set fake.subscribers {})
  (set fake.netlink-handlers [])
  (set fake.link-dump [])
  (set fake.address-dump [])
  (set fake.counter-values {})
  (set fake.files {})
  (set fake.writes [])
  (set fake.dirs [])
  (set fake.dir-error nil)
  (set fake.publish-error nil)
  (set fake.requests [])
  (set fake.fifos {})
  (set fake.logs [])
  (set fake.signals {})
  (set fake.auto-exit-on-terminate true)
  (set fake.stopped? false)
  (set fake.env {})
  (set fake.readied? false)
  (set fake.ready-at nil)
  (set fake.auto-exit {}) ; argv[1] -> true: such a command exits 0 at the next flush
  fake)

(fn new-id [] (set fake.next-id (+ fake.next-id 1)) fake.next-id)

;; the clock and timers
(fn fake.now [] fake.clock)

(fn fake.after [secs f]
  (let [id (new-id)]
    (table.insert fake.timers {: id :at (+ fake.clock secs) : f})
    id))

(fn fake.every [secs f]
  (let [id (new-id)]
    (table.insert fake.timers {: id :at (+ fake.clock secs) : f :every secs})
    id))

(fn fake.cancel [id]
  (set fake.timers (icollect [_ tm (ipairs fake.timers)] (when (not= tm.id id) tm))))

(fn fake.flush! []
  ;; deliver queued process exits (what the loop would do on SIGCHLD)
  (while (> (length fake.pending) 0)
    (let [f (table.remove fake.pending 1)] (f))))

(fn earliest-due []
  (var best nil)
  (each [i tm (ipairs fake.timers)]
    (when (and (<= tm.at fake.clock) (or (= best nil) (< tm.at (. fake.timers best :at))))
      (set best i)))
  best)

(fn fake.advance! [secs]
  ;; moves the clock in small steps so timers fire in order, at their time
  (let [target (+ fake.clock (or secs 0))]
    (fake.flush!)
    (var done? false)
    (while (not done?)
      (var next-at nil)
      (each [_ tm (ipairs fake.timers)]
        (when (or (= next-at nil) (< tm.at next-at)) (set next-at tm.at)))
      (if (and next-at (<= next-at target))
          (do (set fake.clock (math.max fake.clock next-at))
              (case (earliest-due)
                i (let [tm (. fake.timers i)]
                    (if tm.every
                        (set tm.at (+ tm.at tm.every))
                        (table.remove fake.timers i))
                    (tm.f)))
              (fake.flush!))
          (set done? true)))
    (set fake.clock target)))

(fn fake.on-signal [name f] (tset fake.signals name f))
(fn fake.stop [] (set fake.stopped? true))
(fn fake.run [] true)
(fn fake.step [] (fake.flush!) (not fake.stopped?))

;; publishing
(fn fake.service-name [?default] (or fake.name ?default))
(fn fake.root [] "/fake/run/upd")
;; the one native rule for service names, as the real module has it
(set fake.check-name (. (require :upd.core) :check-name))

(fn tree-size [x]
  ;; -> entries, bytes of values (each with its newline), largest value: what
  ;; the real tree limits (src/tree/mod.rs)
  (if (= (type x) :table)
      (accumulate [(n bytes big) (values 0 0 0) _ v (pairs x)]
        (let [(n2 b2 big2) (tree-size v)] (values (+ n n2 1) (+ bytes b2) (math.max big big2))))
      (let [len (+ 1 (length (stringify x)))] (values 0 len len))))

(fn same-tree? [a b]
  (if (and (= (type a) :table) (= (type b) :table))
      (and (accumulate [same true k v (pairs a)] (and same (same-tree? v (rawget b k))))
           (accumulate [same true k (pairs b)] (and same (not= nil (rawget a k)))))
      (= a b)))

(fn fake.publish [name tree ?opts]
  ;; refuses, as the real tree does, more than 4096 entries, a value over
  ;; 64 KiB, more than 1 MiB of values; or fails with fake.publish-error (a
  ;; message, or a function of name and tree returning one or nil)
  (let [copy (deep-copy tree)
        (entries bytes big) (tree-size tree)
        err (or (if (= (type fake.publish-error) :function) (fake.publish-error name tree)
                    fake.publish-error)
                (and (> entries 4096) "tree has more than 4096 entries")
                (and (> big 65537) "value is over 65536 bytes")
                (and (> bytes 1048576) "tree holds more than 1048576 bytes of values"))]
    (if err (values nil (.. "publish " name ": " err))
        ;; as the native publisher: the same tree with the same privacy is
        ;; not published again (no snapshot, subscribers not woken)
        (let [private (not (not (?. ?opts :private)))
              last (. fake.published name)]
          (if (and (not= nil last) (= private (. fake.published-private name))
                   (same-tree? (stringify copy) (stringify last)))
              :unchanged
              (do (tset fake.published name copy)
                  (tset fake.published-private name private)
                  (table.insert fake.publishes {: name :tree copy :opts ?opts})
                  true))))))

(fn fake.withdraw [name]
  (tset fake.published name nil)
  (table.insert fake.publishes {: name :withdrawn true})
  true)

(fn fake.read [name ?path]
  (var node (-?> (. fake.published name) stringify))
  (when (and node ?path)
    (each [part (string.gmatch ?path "[^/]+")]
      (set node (and (= (type node) :table)
                     (let [v (. node part)]
                       (if (= nil v) (. node (tonumber part)) v))))))
  (or node nil))

(fn fake.list []
  (doto (icollect [k (pairs fake.published)] k) table.sort))

(fn fake.subscribe [name handler]
  (let [id (new-id)]
    (when (not (. fake.subscribers name)) (tset fake.subscribers name {}))
    (tset fake.subscribers name id handler)
    id))

(fn fake.unsubscribe [id]
  (each [_ handlers (pairs fake.subscribers)] (tset handlers id nil)))

(fn fake.emit-tree! [name tree ?changed ?owner]
  ;; another service publishes `tree` (nil: it is gone); subscribers see it
  ;; as upd.read would return it, written by uid ?owner (default 0, root)
  (tset fake.published name (deep-copy tree))
  (let [snapshot (-?> tree stringify)]
    (each [_ h (pairs (or (. fake.subscribers name) {}))]
      (h snapshot (or ?changed []) (when tree (or ?owner 0))))))

;; processes
(fn fake.spawn [spec]
  (assert (= (type spec.argv) :table) "spawn: argv required")
  (if (. fake.missing (. spec.argv 1))
      (values nil (.. (. spec.argv 1) ": No such file or directory"))
      (let [pid (+ 1000 (new-id))
            rec {: pid : spec :running true}]
        (table.insert fake.spawns rec)
        (when (. fake.auto-exit (. spec.argv 1))
          (table.insert fake.pending #(fake.exit! {: pid} {:code 0})))
        {: pid})))

(fn find-spawn [pid]
  (accumulate [found nil _ rec (ipairs fake.spawns)]
    (if (= rec.pid pid) rec found)))

(fn fake.exit! [handle-or-rec status]
  ;; the process exits now; its on-exit runs as the loop would run it
  (let [rec (find-spawn handle-or-rec.pid)]
    (when (and rec rec.running)
      (set rec.running false)
      (let [st (doto (or status {:code 0}) (tset :pid rec.pid))]
        (when rec.spec.on-exit (rec.spec.on-exit st))))))

(fn fake.line! [handle-or-rec stream line]
  (let [rec (find-spawn handle-or-rec.pid)]
    (rec.spec.on-line stream line)))

(fn fake.kill [handle ?signal]
  (table.insert fake.kills {:pid handle.pid :signal (or ?signal :TERM)})
  true)

(fn fake.terminate [handle ?timeout]
  (table.insert fake.kills {:pid handle.pid :signal :TERM :terminate true})
  (when fake.auto-exit-on-terminate
    (table.insert fake.pending #(fake.exit! handle {:signal 15})))
  true)

(fn fake.killed? [pid]
  "Whether any signal was sent to PID (kill or terminate)."
  (accumulate [found false _ k (ipairs fake.kills)]
    (or found (= k.pid pid))))

(fn fake.running? [handle]
  (let [rec (find-spawn handle.pid)] (and rec rec.running)))

(fn fake.self-exe [] "/usr/bin/upscript")

;; spawned commands, as argv strings, for assertions
(fn fake.commands []
  (icollect [_ rec (ipairs fake.spawns)] (table.concat rec.spec.argv " ")))

(fn fake.last-spawn [?argv1]
  (var found nil)
  (each [_ rec (ipairs fake.spawns)]
    (when (or (= ?argv1 nil) (= ?argv1 (. rec.spec.argv 1))) (set found rec)))
  found)

(fn fake.running-count [argv1]
  (accumulate [n 0 _ rec (ipairs fake.spawns)]
    (if (and rec.running (= argv1 (. rec.spec.argv 1))) (+ n 1) n)))

;; network
(fn fake.on-netlink [handler] (table.insert fake.netlink-handlers handler))
(fn fake.netlink! [event]
  (each [_ h (ipairs fake.netlink-handlers)] (h event)))
(fn fake.links [] (deep-copy fake.link-dump))
(fn fake.addresses [?ifname]
  (icollect [_ a (ipairs fake.address-dump)]
    (when (or (= ?ifname nil) (= a.ifname ?ifname)) (deep-copy a))))
(fn fake.counters [ifname]
  (case (. fake.counter-values ifname)
    c (deep-copy c)
    _ (values nil (.. "no interface " ifname))))

;; odds and ends
(fn fake.write-file [path content ?mode]
  (if fake.write-error
      (values nil fake.write-error)
      (do (tset fake.files path {: content :mode (or ?mode 420)})
          (table.insert fake.writes path)
          true)))

(fn fake.private-dir [path]
  (table.insert fake.dirs path)
  (if fake.dir-error (values nil fake.dir-error) true))

(fn fake.unix-request [path request ?timeout callback]
  (table.insert fake.requests {: path : request : callback}))

(fn fake.fifo [path on-line] (tset fake.fifos path on-line) (new-id))

(fn fake.log [level msg] (table.insert fake.logs {: level : msg}))
(fn fake.ready []
  ;; ready-at: how many publishes came before the first call
  (when (not fake.readied?) (set fake.ready-at (length fake.publishes)))
  (set fake.readied? true))

(fn fake.logged? [pattern]
  (accumulate [found false _ l (ipairs fake.logs)]
    (or found (not= nil (string.find l.msg pattern)))))

(fn fake.install! []
  (fake.reset!)
  (tset package.loaded :upd fake)
  fake)

fake
