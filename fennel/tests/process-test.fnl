(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local process (require :upd.process))
(local s (t.suite "process"))

(fn test [name f] (s:test name #(do (fake.reset!) (f))))

(test "start spawns argv once; a second start while running is refused"
      #(let [p (process.new ["sleep" "100"])]
         (t.is (p:start))
         (t.is (p:running?))
         (t.is= [nil "already running"] [(p:start)])
         (t.is= ["sleep 100"] (fake.commands))
         (t.is= (. fake.spawns 1 :pid) p.pid)))

(test "exit is recorded; died? until a backoff is scheduled"
      #(let [p (process.new ["false"])]
         (p:start)
         (t.is (not (p:died?)))
         (fake.exit! p.handle {:code 3})
         (t.is (not (p:running?)))
         (t.is= 3 p.status.code)
         (t.is (p:died?))
         (p:backoff)
         (t.is (not (p:died?)) "not died while a backoff is pending")))

(test "backoff doubles 1 2 4 and is capped by max-backoff"
      #(let [p (process.new ["false"] {:max-backoff 4})]
         (t.is= [1 2 4 4]
                (icollect [_ (ipairs [1 2 3 4])]
                  (do (p:start) (fake.exit! p.handle {:code 1}) (p:backoff))))))

(test "backoff-expired? follows the fake clock, on-wake fires when it expires"
      #(let [woken []
             p (process.new ["false"] {:on-wake #(table.insert woken (fake.now))})]
         (p:start) (fake.exit! p.handle {:code 1}) (p:backoff)
         (p:start) (fake.exit! p.handle {:code 1})
         (t.is= 2 (p:backoff))
         (fake.advance! 1.5)
         (t.is (not (p:backoff-expired?)))
         (t.is (p:backoff-pending?))
         (fake.advance! 0.5)
         (t.is (p:backoff-expired?))
         (t.is= [2] woken "one wake-up, at the end of the second delay")))

(test "aver-healthy resets the delay to 1 s"
      #(let [p (process.new ["x"])]
         (for [_ 1 3] (p:start) (fake.exit! p.handle {:code 1}) (p:backoff))
         (p:start)
         (p:aver-healthy)
         (fake.exit! p.handle {:code 1})
         (t.is= 1 (p:backoff))))

(test "stop terminates, cancels a pending backoff and is not a death"
      #(let [woken []
             p (process.new ["x"] {:on-wake #(table.insert woken 1)})]
         (p:start)
         (p:stop)
         (t.is= :TERM (. fake.kills 1 :signal))
         (fake.flush!)
         (t.is (not (p:running?)))
         (t.is (not (p:died?)))
         (p:start) (fake.exit! p.handle {:code 1}) (p:backoff)
         (p:stop)
         (fake.advance! 100)
         (t.is= [] woken)
         (t.is (not (p:backoff-expired?)))))

(test "a missing executable: start returns nil, msg and records it"
      #(let [p (process.new ["no-such-daemon"])]
         (tset fake.missing "no-such-daemon" true)
         (let [(h msg) (p:start)]
           (t.is= nil h)
           (t.is (msg:find "no%-such%-daemon")))
         (t.is (not (p:running?)))
         (t.is (p.status.error:find "No such file"))))

(test "the exit of an old instance does not clobber a new one"
      #(let [p (process.new ["x"])]
         (p:start)
         (let [old p.handle]
           (p:stop) ; auto-exit queued, not delivered yet
           (set fake.pending [])
           (set p.handle nil) ; as if reaped
           (p:start)
           (fake.exit! old {:signal 15})
           (t.is (p:running?) "new instance still tracked"))))

(test "new refuses an empty argv"
      #(t.raises #(process.new []) "argv"))

(s:done)
