;; be-test: helpers for the big-endian router's scenarios. There is no shell
;; in that guest (Debian has no big-endian MIPS userland): a scenario is a
;; Fennel script, run by `upd run` (PID 1) as the service `scenario`, with
;; this file put in front of it by qemu-tests/be/build-initrd. It talks to
;; the host harness (qemu-tests/lib/vm.py) through the same console markers
;; as the mipsel scenarios: @@INFO, @@PASS, @@FAIL, @@HOST (answered with
;; @@ACK or @@NAK on the console's input), @@END.
;; Sequential code waits with `upd.step`, so the loop keeps running (netlink,
;; children) while a scenario sleeps or waits.
(local upd (require :upd))
(local T (or (os.getenv "BE_TEST_NAME") "be"))
(var finished? false)

(fn say [s] (io.stdout:write (.. s "\n")) (io.stdout:flush))
(fn info [msg] (say (.. "@@INFO " T ": " msg)))

(fn sleep [secs]
  (let [deadline (+ (upd.now) secs)]
    (while (< (upd.now) deadline)
      (upd.step (- deadline (upd.now))))))

(fn slurp [path]
  (case (io.open path :r)
    f (let [s (f:read :*a)] (f:close) s)))

(fn trim [s] (and s (pick-values 1 (s:gsub "%s+$" ""))))

(fn run [argv]
  "Runs argv to its end; returns exit code (or -signal) and its output lines."
  (let [lines []
        h (upd.spawn {: argv :on-line (fn [_ line] (table.insert lines line))
                      :on-exit (fn [st] (set lines.status st))})]
    (if (not h) (values 127 [(.. "cannot start " (. argv 1))])
        (do (while (= nil lines.status) (upd.step 0.5))
            (let [st lines.status]
              (set lines.status nil)
              (values (or st.code (- (or st.signal 0))) lines))))))

(fn tree-lines [tree prefix out]
  (each [k v (pairs tree)]
    (if (= (type v) :table) (tree-lines v (.. prefix k "/") out)
        (table.insert out (.. prefix k " " (tostring v)))))
  out)

(fn power-off []
  (say (.. "@@END " T))
  (run ["/bin/betool" "poweroff"])
  ;; Still here: the harness times out and reports it.
  (while true (upd.step 10)))

(fn fail [msg]
  (when (not finished?)
    (set finished? true)
    (say (.. "---- diagnostics for " T))
    (each [_ name (ipairs (upd.list))]
      (say (.. "-- " name))
      (each [_ l (ipairs (doto (tree-lines (or (upd.read name) {}) "" []) (table.sort)))]
        (say (.. "   " l))))
    (say (.. "@@FAIL " T ": " msg))
    (power-off)))

(fn pass [?msg]
  (when (not finished?)
    (set finished? true)
    (say (.. "@@PASS " T (if ?msg (.. " (" ?msg ")") "")))
    (power-off)))

(fn check [ok? msg] (when (not ok?) (fail msg)))

(fn wait-for [secs what pred]
  "Waits until (pred) is true (checked every 50 ms); fails with WHAT after
SECS. Returns the milliseconds it took."
  (let [t0 (upd.now)]
    (while (not (pred))
      (when (> (- (upd.now) t0) secs) (fail (.. what ": not within " secs " s")))
      (upd.step 0.05))
    (math.floor (* 1000 (- (upd.now) t0)))))

(var console nil)
(fn host [cmd]
  "A QEMU monitor command, done by the host; returns once done."
  (when (not console)
    (set console (or (io.open "/dev/ttyS0" :r) (fail "cannot open /dev/ttyS0 for the host's answers"))))
  (say (.. "@@HOST " cmd))
  (let [line (console:read :*l)]
    (check (and line (line:find "@@ACK" 1 true))
           (.. "host command '" cmd "' failed: " (tostring line)))))

(fn val [path]
  (let [(service rest) (path:match "^([^/]+)/?(.*)$")]
    (upd.read service (if (= rest "") nil rest))))

(fn is? [path value] (= (val path) value))

(fn sh [...]
  "Runs a command that must succeed; fails the scenario with its output."
  (let [argv [...]
        (code lines) (run argv)]
    (check (= code 0) (.. (table.concat argv " ") ": exit " code ": " (table.concat lines " | ")))
    lines))

(fn sys-net [ifname file] (trim (slurp (.. "/sys/class/net/" ifname "/" file))))

;; A scenario that raises an error fails with it instead of dying silently.
(fn scenario [f]
  (case (xpcall f debug.traceback)
    (false err) (fail (.. "error: " (tostring err))))
  (pass))
