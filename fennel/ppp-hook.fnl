;; ppp-hook: pppd's ip-up/ip-down and ipv6-up/ipv6-down script. The packaging
;; installs tiny wrappers, e.g. /usr/libexec/upd/ppp-ip-up containing
;;   #!/bin/sh
;;   exec upscript -m ppp-hook up "$@"
;; (ppp-ip-down with `down`, ppp-ipv6-up and ppp-ipv6-down with `ipv6-up`,
;; `ipv6-down`). pppd calls them as
;;   SCRIPT IFNAME TTY SPEED LOCAL REMOTE IPPARAM
;; (LOCAL and REMOTE are the link-local pair for IPv6) with a cleared
;; environment holding only pppd's variables (DNS1, DNS2, PPPD_PID,
;; CONNECT_TIME on the way down, ...) and what pppd's `set NAME=VALUE` adds:
;; pppoe passes `set UPD_ROOT=...` for a state root other than the default.
;;
;; Publishes service IPPARAM (pppoe passes `ipparam <name>.link`) for IPv4,
;; IPPARAM followed by `6` (`<name>.link6`) for IPv6: state (up/down),
;; interface, local-address, remote-address, dns/N (IPv4), since (wall clock
;; at up, seconds since the epoch), uptime (CONNECT_TIME, on down), pppd-pid.
;; Two trees, because pppd runs the IPv4 and IPv6 scripts independently.
;; It is a separate service so that this short-lived process never
;; overwrites the tree its supervisor (pppoe) owns; pppoe subscribes and
;; merges.
(local upd (require :upd))

(local directions {:up [:up ""] :down [:down ""] :ipv6-up [:up "6"] :ipv6-down [:down "6"]})

(fn valid-name? [name suffix]
  "Whether `name` .. `suffix` can name a service: upd's one rule (`upd.check-name`)."
  (and (= (type name) :string) (= true (upd.check-name (.. name suffix)))))

(fn tree-for [direction args getenv ?wall]
  ;; -> service name, tree; or nil, msg
  (let [[ifname _tty _speed local-address remote-address ipparam] args
        [state suffix] (or (. directions (tostring direction)) [])]
    (if (not state)
        (values nil (.. "first argument must be up, down, ipv6-up or ipv6-down, not "
                        (tostring direction)))
        (not ifname)
        (values nil "missing IFNAME argument (pppd passes IFNAME TTY SPEED LOCAL REMOTE IPPARAM)")
        (let [tree {: state :interface ifname :pppd-pid (getenv "PPPD_PID")}]
          (if (= state :up)
              (do (set tree.local-address local-address)
                  (set tree.remote-address remote-address)
                  (when (= suffix "")
                    (set tree.dns (icollect [_ k (ipairs [:DNS1 :DNS2])]
                                    (let [v (getenv k)] (when (and v (not= v "")) v)))))
                  (set tree.since (or ?wall (os.time))))
              (set tree.uptime (getenv "CONNECT_TIME")))
          (values (.. (if (valid-name? ipparam suffix) ipparam "pppoe.link") suffix) tree)))))

(fn main [args]
  (case (tree-for (. args 1) [(select 2 ((or table.unpack _G.unpack) args))] os.getenv)
    (nil msg) (do (io.stderr:write (.. "ppp-hook: " msg "\n")) (os.exit (. (require :upd.args) :usage-exit)))
    (service tree) (case (upd.publish service tree)
                     (nil msg) (do (io.stderr:write (.. "ppp-hook: unable to publish " service ": " msg "\n"))
                                   (os.exit 111)))))


{: main : tree-for}
