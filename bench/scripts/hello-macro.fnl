;; Row 2c: a Fennel script that uses a built-in macro, compiled at start
;; (upscript parses the built-in macros only when one is used).
(when true (print 1))
