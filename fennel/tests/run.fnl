;; Runs every tests/*-test.fnl in its own process, prints each file's result
;; line and the total; exits non-zero when anything failed, or when a file
;; printed no `N passed, N failed` line (that file counts as 1 failed).
;; Run from fennel/: `upscript fennel.lua --add-fennel-path ./?.fnl tests/run.fnl`.
;; The interpreter prefix is the command that runs this file (arg[-n]..arg[-1])
;; or env UPD_TEST_INTERP, e.g.
;;   UPD_TEST_INTERP="lua5.1 /usr/local/bin/fennel-cli-dev --add-fennel-path ./?.fnl"

(fn shell-quote [s] (.. "'" (string.gsub s "'" "'\\''") "'"))

(fn interpreter []
  (case (os.getenv "UPD_TEST_INTERP")
    (where cmd (not= cmd "")) cmd
    _ (let [words []]
        (var i -1)
        (while (. arg (- i 1)) (set i (- i 1)))
        (for [j i -1] (table.insert words (shell-quote (. arg j))))
        (table.insert words "--add-fennel-path")
        (table.insert words (shell-quote "./?.fnl"))
        (table.concat words " "))))

(fn test-files []
  (let [p (io.popen "ls tests/*-test.fnl 2>/dev/null")
        files (icollect [line (p:lines)] line)]
    (p:close)
    (table.sort files)
    files))

(fn run-file [interp file]
  ;; -> passed, failed, output lines, exit code
  (let [p (io.popen (.. interp " " (shell-quote file) " 2>&1; echo \"__exit=$?\""))
        out []]
    (var (passed failed code) (values nil nil nil))
    (each [line (p:lines)]
      (case (line:match "^__exit=(%d+)$")
        c (set code (tonumber c))
        _ (do (table.insert out line)
              (case (line:match "(%d+) passed, (%d+) failed$")
                (np nf) (set (passed failed) (values (tonumber np) (tonumber nf)))))))
    (p:close)
    (values passed failed out code)))

(fn main []
  (let [interp (interpreter)
        files (test-files)]
    (var (total-passed total-failed) (values 0 0))
    (when (= 0 (length files))
      (print "no tests/*-test.fnl found: run this from the fennel/ directory")
      (os.exit 1))
    (each [_ file (ipairs files)]
      (let [(passed failed out code) (run-file interp file)]
        (if (= nil passed)
            (do (set total-failed (+ total-failed 1))
                (print (.. file ": no result line (exit " (tostring code) "), counted as 1 failed"))
                (each [_ l (ipairs out)] (print (.. "  " l))))
            (do (set total-passed (+ total-passed passed))
                (set total-failed (+ total-failed failed))
                (when (and (= failed 0) (not= code 0))
                  (set total-failed (+ total-failed 1)))
                (print (string.format "%s: %d passed, %d failed%s" file passed failed
                                      (if (and (= failed 0) (not= code 0))
                                          (.. " (but exit " (tostring code) ", counted as 1 failed)") "")))
                (when (or (> failed 0) (not= code 0))
                  (each [_ l (ipairs out)] (print (.. "  " l))))))))
    (print (string.format "%d passed, %d failed" total-passed total-failed))
    (io.stdout:flush)
    (os.exit (if (= total-failed 0) 0 1))))

(main)
