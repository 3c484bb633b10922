;; upd.process: one supervised child process with the original upd's
;; semantics, over upd.spawn/upd.terminate and the pure rule in upd.policy.
;;
;;   (process.new argv ?opts) -> p
;;     opts: :max-backoff (60) :initial-backoff (1) :healthy-after (nil: only
;;     aver-healthy resets) :env :cwd :user :group :on-line (fn [stream line])
;;     :input :output (as upd.spawn's)
;;     :on-exit (fn [p status]) :on-wake (fn [p]) called when a backoff expires
;;     (so a reconcile loop runs again)
;;   (p:start)            -> handle, or nil+msg; never a second instance
;;   (p:stop)             terminates it and cancels a pending backoff
;;   (p:running?)         started and not yet reaped
;;   (p:died?)            it exited on its own and no backoff is pending
;;   (p:backoff)          -> delay: schedules the next start after the current
;;                        delay, which then doubles up to :max-backoff
;;   (p:backoff-pending?) a backoff is scheduled and has not expired
;;   (p:backoff-expired?) a backoff was scheduled and its time has come
;;   (p:aver-healthy)     the run is good: the next delay is back to 1 s
;;   p.status             last exit status {:pid :code}/{:pid :signal}, or
;;                        {:error msg} when spawn failed; p.pid while running
(local policy (require :upd.policy))

(fn upd [] (require :upd))

(local Process {})
(set Process.__index Process)

(fn Process.running? [self] (not= nil self.handle))

(fn Process.backoff-pending? [self]
  (and (not= nil self.policy.next-start)
       (not (policy.due? self.policy ((. (upd) :now))))))

(fn Process.backoff-expired? [self]
  (and (not= nil self.policy.next-start)
       (policy.due? self.policy ((. (upd) :now)))))

(fn Process.died? [self]
  (and self.exited? (not self.stopping?) (= nil self.policy.next-start)))

(fn on-exit [self handle status]
  (when (= self.handle handle)
    (set self.handle nil)
    (set self.pid nil)
    (set self.status status)
    (set self.exited? true)
    (when self.opts.on-exit (self.opts.on-exit self status))))

(fn Process.start [self]
  (if self.handle
      (values nil "already running")
      (let [u (upd)
            opts self.opts
            spec {:argv self.argv :env opts.env :cwd opts.cwd
                  :user opts.user :group opts.group :on-line opts.on-line
                  :input opts.input :output opts.output}
            cell {}]
        (set spec.on-exit (fn [status] (on-exit self cell.handle status)))
        (case (u.spawn spec)
          handle (do (set cell.handle handle)
                     (set self.handle handle)
                     (set self.pid handle.pid)
                     (set self.exited? false)
                     (set self.stopping? false)
                     (set self.starts (+ self.starts 1))
                     (policy.on-start self.policy (u.now))
                     handle)
          (nil msg) (do (set self.status {:error msg})
                        (set self.exited? true)
                        (set self.policy.next-start nil)
                        (values nil msg))))))

(fn cancel-wake [self]
  (when self.wake-timer
    ((. (upd) :cancel) self.wake-timer)
    (set self.wake-timer nil)))

(fn Process.stop [self ?timeout]
  (cancel-wake self)
  (set self.policy.next-start nil)
  (set self.stopping? true)
  (when self.handle
    ((. (upd) :terminate) self.handle ?timeout))
  true)

(fn Process.backoff [self]
  (let [u (upd)
        delay (policy.on-exit self.policy (u.now))]
    (cancel-wake self)
    (set self.wake-timer
         (u.after delay (fn []
                          (set self.wake-timer nil)
                          (when self.opts.on-wake (self.opts.on-wake self)))))
    delay))

(fn Process.aver-healthy [self] (policy.on-healthy self.policy) self)

(fn Process.delay [self] (policy.delay self.policy))

(fn new [argv ?opts]
  (when (or (not= (type argv) :table) (= nil (. argv 1)))
    (error "upd.process.new: argv must be a non-empty sequence"))
  (let [opts (or ?opts {})]
    (setmetatable {: argv : opts :starts 0 :exited? false :stopping? false
                   :policy (policy.new {:initial (or opts.initial-backoff 1)
                                        :max (or opts.max-backoff 60)
                                        :healthy-after (or opts.healthy-after false)})}
                  Process)))

{: new}
