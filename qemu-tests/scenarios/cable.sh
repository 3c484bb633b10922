# cable: carrier loss through the QEMU monitor (set_link). eth0/carrier turns
# `no` within 1 s of the kernel seeing it (pcnet32 itself polls the PHY every
# 2 s, so the kernel is the reference), pppd is stopped, pppoe says
# waiting-for-carrier and drops the addresses; with the cable back, pppd
# restarts and ppp0 comes up again.
# needs: upscript
# timeout: 150

upd_up
old_pppd=$(client_pppd) || fail "no client pppd while up"

host set_link wan off
wait_for 5 "the kernel to see the carrier loss" carrier_is eth0 0
wait_for 1 "eth0/carrier = no" is eth0/carrier no
info "eth0/carrier=no published $WAITED_MS ms after the kernel's carrier went"
wait_for 5 "pppd to be stopped" '! client_pppd'
wait_for 2 "pppoe/state = waiting-for-carrier" is pppoe/state waiting-for-carrier
[ -z "$(val pppoe/local-address)" ] || fail "pppoe still publishes local-address $(val pppoe/local-address) without carrier"
usleep 1500000
client_pppd >/dev/null && fail "pppd started again without carrier"
is pppoe/state waiting-for-carrier || fail "pppoe/state turned $(val pppoe/state) without carrier"

host set_link wan on
wait_for 5 "the kernel to see the carrier" carrier_is eth0 1
wait_for 1 "eth0/carrier = yes" is eth0/carrier yes
wait_for 5 "a new pppd" client_pppd
[ "$(client_pppd)" != "$old_pppd" ] || fail "the old pppd is still there"
wait_for 40 "pppoe/state = up again" is pppoe/state up
wait_for 5 "ppp0 address" has_ipv4 ppp0
wait_for 5 "pppoe's addresses = ppp0's" pppoe_matches_ppp0
ping -c 1 -W 2 "$(val pppoe/remote-address)" >/dev/null || fail "no ping answer over ppp0 after the cable came back"
pass
