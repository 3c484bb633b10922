;; ppp-hook: pppd's ip-up/ip-down script. The packaging installs two tiny
;; wrappers, e.g. /usr/libexec/upd/ppp-ip-up containing
;;   #!/bin/sh
;;   exec upscript -m ppp-hook up "$@"
;; (and ppp-ip-down with `down`). pppd calls them as
;;   SCRIPT IFNAME TTY SPEED LOCAL REMOTE IPPARAM
;; with env DNS1, DNS2, PPPD_PID and, on the way down, CONNECT_TIME.
;;
;; Publishes service IPPARAM (pppoe passes `ipparam <name>.link`): state
;; (up/down), interface, local-address, remote-address, dns/N, since (upd.now
;; at ip-up; the monotonic clock is system-wide), uptime (CONNECT_TIME, on
;; down), pppd-pid. It is a separate service so that this short-lived process
;; never overwrites the tree its supervisor (pppoe) owns; pppoe subscribes and
;; merges.
(local upd (require :upd))

(fn valid-name? [name]
  (and (= (type name) :string) (not= name "") (not= name ".") (not= name "..")
       (<= (length name) 255) (not (name:find "[^%w%._:%-]"))))

(fn tree-for [direction args getenv]
  ;; -> service name, tree; or nil, msg
  (let [[ifname _tty _speed local-address remote-address ipparam] args
        service (if (valid-name? ipparam) ipparam "pppoe.link")]
    (if (not (. {:up true :down true} direction))
        (values nil (.. "first argument must be up or down, not " (tostring direction)))
        (not ifname)
        (values nil "missing IFNAME argument (pppd passes IFNAME TTY SPEED LOCAL REMOTE IPPARAM)")
        (let [tree {:state direction :interface ifname :pppd-pid (getenv "PPPD_PID")}]
          (if (= direction :up)
              (do (set tree.local-address local-address)
                  (set tree.remote-address remote-address)
                  (set tree.dns (icollect [_ k (ipairs [:DNS1 :DNS2])]
                                  (let [v (getenv k)] (when (and v (not= v "")) v))))
                  (set tree.since (upd.now)))
              (set tree.uptime (getenv "CONNECT_TIME")))
          (values service tree)))))

(fn main [args]
  (case (tree-for (. args 1) [(select 2 ((or table.unpack _G.unpack) args))] os.getenv)
    (nil msg) (do (io.stderr:write (.. "ppp-hook: " msg "\n")) (os.exit 100))
    (service tree) (case (upd.publish service tree)
                     (nil msg) (do (io.stderr:write (.. "ppp-hook: unable to publish " service ": " msg "\n"))
                                   (os.exit 111)))))


{: main : tree-for}
