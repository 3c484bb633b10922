# pppoe-pty: a kernel without PPPoE (pppoe.ko unloaded and hidden, as on
# Liminix): the pppoe service in kernel mode fails at once with a reason
# naming the missing support (read from pppd's own output), no restart
# loop; in pty mode (pppd pty "pppoe -I eth0", user-space rp-pppoe over
# ppp_async) with --ipv6 it comes up: addresses, and the link-local pair
# from the ipv6-up hook.
# needs: upscript
# timeout: 120

rmmod pppoe || fail "cannot unload pppoe.ko"
for m in /lib/modules/*/kernel/drivers/net/ppp/pppoe.ko*; do mv "$m" /tmp/; done
cat > /tmp/kernel.fnl <<'FNL'
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0"]}]
FNL
cat > /tmp/pty.fnl <<'FNL'
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0" "--mode" "pty" "--ipv6" "--ipv6-up" "" "--ipv6-down" ""]}]
FNL

start_upd /tmp/kernel.fnl
wait_for 30 "pppoe/state = failed without kernel PPPoE" is pppoe/state failed
info "kernel mode: failed after $WAITED_MS ms: $(val pppoe/reason)"
case $(val pppoe/reason) in
  *"no PPPoE support (CONFIG_PPPOE"*) ;;
  *) fail "the reason does not name the kernel's PPPoE: $(val pppoe/reason)" ;;
esac
n=$(grep -c 'pppd exited\|Failed to create PPPoE socket' /tmp/upd.log)
usleep 3000000
is pppoe/state failed || fail "pppoe/state turned $(val pppoe/state)"
[ "$(upd_pppds)" = 0 ] || fail "pppd restarted"
kill "$(cat /run/upd-run.pid)"
wait_for 10 "upd to stop" '[ ! -d /proc/$(cat /run/upd-run.pid) ]'

start_upd /tmp/pty.fnl
wait_for 40 "pppoe/state = up in pty mode" is pppoe/state up
up_ms=$WAITED_MS
is pppoe/mode pty || fail "pppoe/mode is $(val pppoe/mode)"
wait_for 10 "pppoe's addresses = ppp0's" pppoe_matches_ppp0
info "pty mode: up after $up_ms ms: $(val pppoe/local-address) -> $(val pppoe/remote-address)"
ping -c 1 -W 2 "$(val pppoe/remote-address)" >/dev/null || fail "no ping over ppp0 in pty mode"
wait_for 20 "pppoe/ipv6/local-address published" '[ -n "$(val pppoe/ipv6/local-address)" ]'
case $(val pppoe/ipv6/local-address)/$(val pppoe/ipv6/remote-address) in
  fe80:*/fe80:*) ;;
  *) fail "pppoe/ipv6 is $(val pppoe/ipv6/local-address) -> $(val pppoe/ipv6/remote-address)" ;;
esac
ip -6 route show default | grep -q ppp0 || fail "no IPv6 default route over ppp0 (defaultroute6)"
info "IPv6CP: $(val pppoe/ipv6/local-address) -> $(val pppoe/ipv6/remote-address); $(ip -6 route show default)"
pass
