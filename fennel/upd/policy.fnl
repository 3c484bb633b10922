;; upd.policy: the restart/backoff rule, as pure data + functions (no I/O, the
;; caller passes `now`), so the supervisor and upd.process share one rule and
;; tests need no clock.
;;
;; Rule: after an unexpected exit, wait `delay` before the next start; the
;; delay starts at `initial` and doubles after each exit up to `max`. A run that
;; lasted at least `healthy-after` seconds, or an explicit on-healthy, resets
;; the delay to `initial`.
;;
;; API (st is a plain table, fields readable by callers):
;;   (new ?{:initial 1 :max 60 :healthy-after 10}) -> st  (:healthy-after
;;                         false: only on-healthy resets)
;;   (on-start st now)     records the start time, clears a pending start
;;   (on-exit st now)      -> delay before the next start; sets st.next-start
;;   (on-healthy st)       resets the delay to `initial` (the run was good)
;;   (next-start st)       -> time of the scheduled start, or nil
;;   (due? st now)         -> true when no start is pending or it is due
;;   (delay st)            -> the delay the next on-exit will return
;;   (cancel st)           forgets a pending start and resets the delay

(fn new [?opts]
  (let [opts (or ?opts {})
        initial (or opts.initial 1)
        max (or opts.max 60)]
    (when (or (not= (type initial) :number) (<= initial 0))
      (error "upd.policy: :initial must be a positive number"))
    (when (or (not= (type max) :number) (< max initial))
      (error "upd.policy: :max must be a number >= :initial"))
    {: initial : max
     :healthy-after (if (= nil opts.healthy-after) 10 opts.healthy-after)
     :current initial
     :started-at nil
     :next-start nil}))

(fn on-start [st now]
  (set st.started-at now)
  (set st.next-start nil)
  st)

(fn on-healthy [st]
  (set st.current st.initial)
  st)

(fn on-exit [st now]
  (when (and st.started-at st.healthy-after
             (>= (- now st.started-at) st.healthy-after))
    (on-healthy st))
  (let [delay st.current]
    (set st.current (math.min st.max (* 2 st.current)))
    (set st.started-at nil)
    (set st.next-start (+ now delay))
    delay))

(fn next-start [st] st.next-start)

(fn due? [st now]
  (or (= nil st.next-start) (>= now st.next-start)))

(fn delay [st] st.current)

(fn cancel [st]
  (set st.next-start nil)
  (on-healthy st))

{: new : on-start : on-exit : on-healthy : next-start : due? : delay : cancel}
