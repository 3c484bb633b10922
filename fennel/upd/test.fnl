;; upd.test: the smallest test harness that tells the truth.
;; Each test file makes a suite, adds tests, and ends with (suite:done), which
;; prints `N passed, N failed` and exits non-zero when anything failed, so a
;; file run alone with the original command line is a complete test run.

(local fennel-view (fn [x]
                     (let [(ok? view) (pcall require :fennel.view)]
                       (if (and ok? (= (type view) :function)) (view x) (tostring x)))))

(fn deep= [a b]
  (if (and (= (type a) :table) (= (type b) :table))
      (do
        (var same? true)
        (each [k v (pairs a) &until (not same?)]
          (set same? (deep= v (. b k))))
        (each [k (pairs b) &until (not same?)]
          (set same? (not= nil (. a k))))
        same?)
      (= a b)))

(fn fail! [msg level]
  (error msg (+ 1 (or level 1))))

(fn is [value ?msg]
  (when (not value)
    (fail! (or ?msg (.. "expected a true value, got " (tostring value))) 2))
  value)

(fn is= [expected actual ?msg]
  (when (not (deep= expected actual))
    (fail! (.. (if ?msg (.. ?msg ": ") "")
               "expected " (fennel-view expected) ", got " (fennel-view actual)) 2))
  actual)

(fn raises [f pattern]
  (let [(ok? err) (pcall f)]
    (when ok? (fail! "expected an error, none was raised" 2))
    (when (and pattern (not (string.find (tostring err) pattern)))
      (fail! (.. "error " (tostring err) " does not match " pattern) 2))
    err))

(fn run-test [suite name f]
  (let [(ok? err) (xpcall f debug.traceback)]
    (if ok?
        (set suite.passed (+ suite.passed 1))
        (do
          (set suite.failed (+ suite.failed 1))
          (io.stderr:write (.. "FAIL " suite.name ": " name "\n  " (tostring err) "\n"))))))

(fn done [suite]
  (print (string.format "%d passed, %d failed" suite.passed suite.failed))
  (io.stdout:flush)
  (os.exit (if (= suite.failed 0) 0 1)))

(fn suite [name]
  {: name :passed 0 :failed 0
   :test run-test
   :done done})

{: suite : is : is= : raises : deep=}
