;; pid1: the supervisor as PID 1 on the big-endian kernel. netdev's script
;; killed with SIGKILL: its tree is withdrawn, it is started again
;; (restarts + 1) and republishes. A service script killed while its child
;; runs: the orphan is re-parented to PID 1, which reaps it when it exits (no
;; zombie). SIGHUP to PID 1 after the services file gained an entry starts
;; the new service and leaves the others alone (same pids).
;; services: {:name "parent" :script "/test/parent.lua"}
;; timeout: 180

(fn pid-of [name] (val (.. "upd/services/" name "/pid")))
(fn proc-state [pid] (case (slurp (.. "/proc/" pid "/stat")) s (s:match "^%d+ %b() (%a)")))

(scenario
 (fn []
   ;; The orphan: parent.lua publishes its child's pid.
   (wait-for 20 "parent/child published" #(val "parent/child"))
   (let [child (val "parent/child")]
     (sh "/bin/betool" "kill" "9" (pid-of "parent"))
     ;; The orphan gets upd's parent-death signal and exits at once: PID 1
     ;; may have reaped it before a look at /proc sees it re-parented (its
     ;; only other parent is dead), so either is the re-parenting.
     (var seen-ppid nil)
     (wait-for 5 "the orphan re-parented to PID 1 (or already reaped by it)"
               #(case (slurp (.. "/proc/" child "/stat"))
                  s (let [ppid (s:match "^%d+ %b() %a (%d+)")]
                      (set seen-ppid ppid)
                      (= "1" ppid))
                  _ true))
     (info (.. "orphan " child (if (= seen-ppid "1") " re-parented to PID 1"
                                    " gone from /proc before it was seen re-parented")))
     (wait-for 15 "the orphan reaped by PID 1 (no zombie)" #(= nil (proc-state child))))
   (wait-for 20 "eth0/state = running" #(is? "eth0/state" "running"))
   (let [old (pid-of "eth0")
         restarts (tonumber (val "upd/services/eth0/restarts"))]
     (check old "no pid for eth0 under upd/services")
     (sh "/bin/betool" "kill" "9" old)
     (let [ms (wait-for 3 "eth0's tree withdrawn" #(= nil (val "eth0/state")))]
       (info (.. "eth0 withdrawn " ms " ms after SIGKILL")))
     (wait-for 10 "a new eth0 script" #(and (pid-of "eth0") (not= (pid-of "eth0") old)))
     (check (= (tonumber (val "upd/services/eth0/restarts")) (+ restarts 1))
            (.. "restarts is " (tostring (val "upd/services/eth0/restarts")) ", expected " (+ restarts 1)))
     (wait-for 10 "eth0/state = running again" #(is? "eth0/state" "running")))
   ;; SIGHUP with one more service.
   (let [eth0 (pid-of "eth0")
         me (pid-of "scenario")
         text (slurp "/etc/upd/services.fnl")
         (new n) (text:gsub "%]%s*$" " {:name \"lo\" :script \"netdev\" :args [\"lo\"]}]\n")]
     (check (= n 1) "cannot add an entry to /etc/upd/services.fnl")
     (let [f (io.open "/etc/upd/services.fnl" :w)] (f:write new) (f:close))
     (sh "/bin/betool" "kill" "1" "1")
     (wait-for 10 "lo/state published after SIGHUP" #(val "lo/state"))
     (check (= (pid-of "eth0") eth0) (.. "eth0 was restarted by the reload: " eth0 " -> " (tostring (pid-of "eth0"))))
     (check (= (pid-of "scenario") me) "the scenario was restarted by the reload")
     (check (is? "lo/state" "running") (.. "lo/state is " (tostring (val "lo/state"))))
     (info "SIGHUP: lo started, eth0 and scenario kept their pids"))))
