;; Row 5 under `upd run`: the service script is itself the process killed.
;; Appends "PID NOW" to STAMPS as its first act (the pid from /proc/self/stat:
;; Lua has no getpid), then idles. Args: STAMPS.
(local upd (require :upd))

(let [t (upd.now)
      stamps (assert (. arg 1) "usage: restart-script.lua STAMPS")
      pid (with-open [f (assert (io.open :/proc/self/stat))] (f:read :*n))]
  (with-open [f (assert (io.open stamps :a))]
    (f:write (string.format "%d %d\n" pid (math.floor (* t 1e9)))))
  (upd.run))
