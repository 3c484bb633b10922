# smoke: the harness itself, without upd. Plain pppd on eth0 against the ISP's
# pppoe-server: boot, PPPoE up, ping over ppp0; carrier off/on through the
# QEMU monitor seen in /sys/class/net/eth0/carrier. The cable comes back only
# once pppd has given up the old session (ppp0 without its address): before,
# a loaded machine could see the old session's address on ppp0 after the
# cable returned and ping a dying session.
# timeout: 90

wait_for 5 "eth0 carrier" carrier_is eth0 1
pppd plugin pppoe.so nic-eth0 user router ifname ppp0 noauth noipv6 \
     lcp-restart 1 persist maxfail 0 holdoff 1 lcp-echo-interval 1 lcp-echo-failure 3
wait_for 20 "ppp0 has an IPv4 address" has_ipv4 ppp0
info "ppp0 $(ipv4_of ppp0) -> $(peer_of ppp0) after ${WAITED_MS} ms"
ping -c 2 -W 2 "$(peer_of ppp0)" >/dev/null || fail "no ping answer over ppp0"

host set_link wan off
# pcnet32 polls the PHY every 2 s: the kernel itself may take that long.
wait_for 5 "carrier off seen on eth0" carrier_is eth0 0
info "carrier off seen after ${WAITED_MS} ms"
old=$(ipv4_of ppp0)
# lcp-echo-interval 1, failure 3: pppd ends the dead session within ~4 s
wait_for 15 "pppd to end the old session ($old)" '! has_ipv4 ppp0'
info "old session $old ended ${WAITED_MS} ms later"
host set_link wan on
wait_for 5 "carrier back on eth0" carrier_is eth0 1
wait_for 30 "ppp0 back up with a new session" has_ipv4 ppp0
info "new session $(ipv4_of ppp0) (old $old)"
ping -c 1 -W 2 "$(peer_of ppp0)" >/dev/null || fail "no ping answer over ppp0 after the cable came back"
pass
