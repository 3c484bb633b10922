;; authorized-keys: keeps an authorized_keys file equal to a key tree that an
;; admin publishes (privately) with `upd publish`, e.g. service ssh-keys with
;; values `ssh-ed25519 AAAA... alice@laptop` anywhere in its tree.
;;
;; Subscribes: the key service named on the command line. Trusted only when
;; written by its expected owner (--owner UID, default 0: root, e.g. an
;; admin's `upd publish --private`): these keys let one log in as root, and a
;; tree under an unclaimed name can be written by any user the state root
;; lets publish (docs/state-tree.md, "Ownership"). A tree written by anyone
;; else is refused (state refused, the file left as it is).
;; Writes: --path (default /root/.ssh/authorized_keys), atomically, mode 0600,
;; only when the validated key list changed. Lines that do not look like an
;; OpenSSH public key (optional options, a known key type, base64) are skipped
;; and logged. While the key service does not exist the file is left alone
;; (so a boot before the admin publishes cannot lock anyone out); a service
;; that exists with no valid key does empty the file.
;; Optionally supervises dropbear (arguments after `--`, run as `dropbear -F
;; -E ARGS`) and restarts it when the keys changed (--on-change restart, the
;; default) or leaves it alone (--on-change none: dropbear reads the file at
;; each login anyway; a restart also ends its open sessions).
;; Publishes <name> (default "authorized-keys"): state (waiting written
;; failed refused), reason, path, keys (count written), skipped, restarts,
;; dropbear (running/backoff/failed/absent).
(local upd (require :upd))
(local args (require :upd.args))
(local process (require :upd.process))

(local key-types {:ssh-ed25519 true :ssh-rsa true :ssh-dss true
                  :ecdsa-sha2-nistp256 true :ecdsa-sha2-nistp384 true :ecdsa-sha2-nistp521 true
                  "sk-ssh-ed25519@openssh.com" true "sk-ecdsa-sha2-nistp256@openssh.com" true})

(fn key-line? [line]
  ;; a known type token followed by base64, anywhere after optional options
  (var ok? false)
  (let [words (icollect [w (string.gmatch line "%S+")] w)]
    (each [i ktype (ipairs words)]
      (let [blob (or (. words (+ i 1)) "")]
        (when (and (. key-types ktype) (blob:match "^[A-Za-z0-9+/]+=*$") (>= (length blob) 16))
          (set ok? true)))))
  (and ok? (not (line:find "[%c]"))))

(fn leaves [tree ?out]
  ;; every value of the tree, in sorted key order (numeric keys numerically)
  (let [out (or ?out [])
        ks (icollect [k (pairs tree)] k)]
    (table.sort ks (fn [a b]
                     (let [na (tonumber a) nb (tonumber b)]
                       (if (and na nb) (< na nb) (< (tostring a) (tostring b))))))
    (each [_ k (ipairs ks)]
      (let [v (. tree k)]
        (if (= (type v) :table) (leaves v out) (table.insert out (tostring v)))))
    out))

(fn collect-keys [tree log]
  ;; -> sequence of valid key lines, number skipped
  (let [keys [] seen {}]
    (var skipped 0)
    (each [_ value (ipairs (leaves tree))]
      (each [line (string.gmatch (.. value "\n") "([^\n]*)\n")]
        (let [l (-> line (string.gsub "^%s+" "") (string.gsub "%s+$" ""))]
          (if (or (= l "") (l:match "^#")) nil
              (key-line? l) (when (not (. seen l)) (tset seen l true) (table.insert keys l))
              (do (set skipped (+ skipped 1))
                  (log (.. "skipping a value that is not an SSH public key: '"
                           (l:sub 1 40) (if (> (length l) 40) "...'" "'"))))))))
    (values keys skipped)))

(fn publish! [s]
  (let [d s.dropbear]
    (upd.publish s.name {:state s.state :reason s.reason :path s.path
                         :keys s.count :skipped s.skipped :restarts s.restarts
                         :dropbear (if (not d) :absent
                                       s.dropbear-failed :failed
                                       (d:running?) :running
                                       (d:backoff-pending?) :backoff
                                       :stopped)})))

(fn start-dropbear! [s]
  (let [d s.dropbear]
    (when (and d (not s.dropbear-failed) (not (d:running?)) (not (d:backoff-pending?)))
      (case (d:start)
        (nil msg) (do (set s.dropbear-failed true)
                      (set s.reason (.. "unable to start dropbear: " msg))
                      (upd.log :err s.reason))))))

(fn on-trusted-keys [s tree]
  (let [(keys skipped) (collect-keys tree #(upd.log :warn $1))
        text (table.concat (icollect [_ k (ipairs keys)] (.. k "\n")))]
    (set s.skipped skipped)
    (if (not= text s.text)
        (case (upd.write-file s.path text 384)
          true (do (set s.text text)
                   (set s.count (length keys))
                   (set s.state :written)
                   (set s.reason nil)
                   (when (and s.dropbear (= s.on-change :restart) (s.dropbear:running?))
                     (set s.restarts (+ s.restarts 1))
                     (set s.restart-pending? true)
                     (s.dropbear:stop)))
          (nil msg) (do (set s.state :failed)
                        (set s.reason (.. "unable to write " s.path ": " msg))
                        (upd.log :err s.reason)))
        ;; the same keys as written, after a refused tree: written again
        (= s.state :refused)
        (do (set s.state :written) (set s.reason nil)))))

(fn on-keys [s tree owner]
  (if (and tree (not= owner s.owner))
      (do (set s.state :refused)
          (set s.reason (.. s.service " was written by uid " (tostring owner) ", not by uid "
                            s.owner ": ignored"))
          (upd.log :err s.reason))
      tree
      (on-trusted-keys s tree))
  (publish! s))

(fn on-dropbear-exit [s p status]
  (if s.restart-pending? (set s.restart-pending? false)
      p.stopping? nil
      (p:backoff))
  (start-dropbear! s)
  (publish! s))

(fn new [service ?opts]
  (let [opts (or ?opts {})
        s {: service :name (or opts.name (upd.service-name "authorized-keys"))
           :path (or opts.path "/root/.ssh/authorized_keys")
           :on-change (or opts.on-change :restart)
           :owner (or opts.owner 0)
           :state :waiting :count 0 :skipped 0 :restarts 0}]
    (when opts.dropbear-args
      (let [argv [(or opts.dropbear "dropbear") "-F" "-E"]]
        (each [_ a (ipairs opts.dropbear-args)] (table.insert argv a))
        (set s.dropbear (process.new argv {:on-exit #(on-dropbear-exit s $1 $2)
                                           :on-wake #(do (start-dropbear! s) (publish! s))}))))
    s))

(fn start! [s]
  (upd.subscribe s.service #(on-keys s $1 $3))
  (start-dropbear! s)
  (publish! s)
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "authorized-keys"
             :usage "authorized-keys KEY-SERVICE [--path FILE] [--name NAME] [--owner UID] [--on-change restart|none] [--dropbear PATH] [-- DROPBEAR-ARGS...]"
             :positional {:min 1 :max 1 :error "expected the name of one key service"}
             :options {:path args.text :name args.text :dropbear args.text
                       :on-change (args.one-of :restart :none)
                       :owner (args.matching "^%d+$" "a uid (a number)" tonumber)}
             :rest :dropbear-args})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [(service opts) (args.parse-or-exit spec argv)]
    (start! (new service opts))
    (upd.run)))


{: main : new : start! : collect-keys : key-line? : parse-args}
