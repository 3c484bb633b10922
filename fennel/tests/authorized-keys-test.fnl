(local t (require :upd.test))
(local fake (require :tests.fake-upd))
(fake.install!)
(local ak (require :authorized-keys))
(local s (t.suite "authorized-keys"))

(local alice "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5YWxpY2VhbGljZWFsaWNlYWxpY2U alice@laptop")
(local bob "from=\"10.0.0.0/8\" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDbobbobbobbobbob bob")
(local path "/root/.ssh/authorized_keys")

(fn file [] (?. fake.files path :content))
(fn pub [k] (. fake.published :authorized-keys k))

(fn setup [?opts]
  (fake.reset!)
  (ak.start! (ak.new "ssh-keys" ?opts)))

(s:test "writes the keys, mode 0600, in key order"
        #(do (setup)
             (t.is= :waiting (pub :state))
             (t.is= nil (file))
             (fake.emit-tree! "ssh-keys" {:2 bob :1 alice})
             (t.is= (.. alice "\n" bob "\n") (file))
             (t.is= 384 (. fake.files path :mode))
             (t.is= :written (pub :state))
             (t.is= 2 (pub :keys))))

(s:test "garbage is kept out and counted"
        #(do (setup)
             (fake.emit-tree! "ssh-keys" {:keys [alice "<html>oops</html>" "ssh-ed25519 short"
                                                 (.. alice "\nssh-rsa !!!notbase64!!!")]})
             (t.is= (.. alice "\n") (file))
             (t.is= 3 (pub :skipped))
             (t.is (fake.logged? "not an SSH public key"))))

(s:test "dropbear is restarted only when the keys changed"
        #(do (setup {:dropbear-args ["-p" "22"]})
             (t.is= ["dropbear" "-F" "-E" "-p" "22"] (. (fake.last-spawn) :spec :argv))
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (fake.flush!)
             (t.is= 2 (length fake.spawns) "first keys: one restart")
             (fake.emit-tree! "ssh-keys" {:1 alice :note "# a comment"})
             (fake.flush!)
             (t.is= 2 (length fake.spawns) "same keys: no restart")
             (t.is= 1 (length fake.writes) "same keys: no write")
             (fake.emit-tree! "ssh-keys" {:1 alice :2 bob})
             (fake.flush!)
             (t.is= 3 (length fake.spawns))
             (t.is= 1 (fake.running-count "dropbear"))
             (t.is= 2 (pub :restarts))))

(s:test "--on-change none never restarts; a vanished key service leaves the file"
        #(do (setup {:dropbear-args [] :on-change :none})
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (fake.emit-tree! "ssh-keys" nil)
             (fake.flush!)
             (t.is= 1 (length fake.spawns))
             (t.is= (.. alice "\n") (file))))

(s:test "write failure: failed with the reason, retried on the next change"
        #(do (setup)
             (set fake.write-error "Read-only file system")
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (t.is= :failed (pub :state))
             (t.is (string.find (pub :reason) "Read%-only"))
             (set fake.write-error nil)
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (t.is= :written (pub :state))))

(s:test "missing dropbear: failed, keys still written"
        #(do (fake.reset!)
             (tset fake.missing "dropbear" true)
             (ak.start! (ak.new "ssh-keys" {:dropbear-args []}))
             (t.is= :failed (pub :dropbear))
             (t.is (string.find (pub :reason) "unable to start dropbear"))
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (t.is= (.. alice "\n") (file))))

(s:test "keys written by anyone but the expected owner are refused, the file kept"
        #(do (setup)
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (fake.emit-tree! "ssh-keys" {:1 alice :2 bob} nil 65534)
             (t.is= (.. alice "\n") (file) "the squatter's keys are not written")
             (t.is= :refused (pub :state))
             (t.is (string.find (pub :reason) "written by uid 65534, not by uid 0") (pub :reason))
             (t.is (fake.logged? "ssh%-keys was written by uid 65534"))
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (t.is= :written (pub :state) "the owner's tree again: trusted again")
             (setup {:owner 1000})
             (fake.emit-tree! "ssh-keys" {:1 alice})
             (t.is= :refused (pub :state) "root's tree when uid 1000 is expected")
             (fake.emit-tree! "ssh-keys" {:1 alice} nil 1000)
             (t.is= :written (pub :state))))

(s:test "arguments"
        #(do (t.is= [nil "option --on-change needs restart or none, not hup"]
                    [(ak.parse-args ["k" "--on-change" "hup"])])
             (t.is= ["k" {:path "/x" :dropbear-args ["-p" "2222"]}]
                    [(ak.parse-args ["k" "--path" "/x" "--" "-p" "2222"])])
             (t.is= ["k" {:owner 1000}] [(ak.parse-args ["k" "--owner" "1000"])])
             (t.is= [nil "option --owner needs a uid (a number), not root"]
                    [(ak.parse-args ["k" "--owner" "root"])])))

(s:done)
