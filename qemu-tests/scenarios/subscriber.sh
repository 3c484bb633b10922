# subscriber: a small service script of our own subscribes to pppoe and
# republishes the addresses it was told about; when the ISP hangs up and comes
# back with another address pool, the subscriber sees the new addresses.
# needs: upscript
# timeout: 180

cat > /tmp/watch-ppp.fnl <<'FNL'
;; watch-ppp: publishes (as its service name) the pppoe addresses its
;; subscription was last told about, and how many updates it got.
(local upd (require :upd))
(local name (upd.service-name "watch-ppp"))
(var updates 0)
(upd.subscribe "pppoe"
  (fn [tree changed]
    (set updates (+ updates 1))
    (upd.publish name {:updates updates
                       :local-address (or (and tree tree.local-address) "none")
                       :remote-address (or (and tree tree.remote-address) "none")
                       :changed (table.concat (or changed []) " ")})))
(upd.run)
FNL
cat > /tmp/services.fnl <<'FNL'
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0"]}
 {:name "watch-ppp" :script "/tmp/watch-ppp.fnl"}]
FNL

upd_up /tmp/services.fnl
wait_for 5 "watch-ppp sees the first addresses" \
  '[ "$(val watch-ppp/local-address)" = "$(val pppoe/local-address)" ]'
first=$(val watch-ppp/local-address)/$(val watch-ppp/remote-address)
info "watch-ppp saw $first"
case $first in 10.64.0.*/10.64.0.1) ;; *) fail "unexpected first addresses $first" ;; esac

isp_restart 10.65.0.1 10.65.0.20
wait_for 60 "watch-ppp sees the new remote 10.65.0.1" is watch-ppp/remote-address 10.65.0.1
wait_for 5 "watch-ppp's local = pppoe's" \
  '[ "$(val watch-ppp/local-address)" = "$(val pppoe/local-address)" ]'
second=$(val watch-ppp/local-address)/$(val watch-ppp/remote-address)
info "watch-ppp saw $second after $(val watch-ppp/updates) updates"
case $second in 10.65.0.2*/10.65.0.1) ;; *) fail "unexpected new addresses $second" ;; esac
pppoe_matches_ppp0 || fail "pppoe's addresses are not ppp0's"
pass
