# lan-faults: the whole chain, then faults on the WAN; each time the LAN
# host's IPv4 (NAT out of the new ppp0) and IPv6 (the delegated prefix, via
# a new odhcp6c on the new ppp0) come back:
# 1. the cable pulled (set_link wan off) and plugged back;
# 2. pppd killed (SIGKILL).
# Prints how long each took.
# needs: upscript
# timeout: 200

both_back() {
  wait_for 60 "$1: pppoe/state = up" is pppoe/state up
  m_ppp=$(( $(now_ms) - t0 ))
  wait_for 60 "$1: odhcp6c-wan bound again" '[ "$(val odhcp6c-wan/state)" = bound ] && [ -n "$(val odhcp6c-wan/ra_prefixes/1/prefix)" ]'
  m_dhcp=$(( $(now_ms) - t0 ))
  wait_for 30 "$1: 2001:db8:1200::1 on lan0 again" 'ip -6 addr show dev lan0 | grep -q 2001:db8:1200::1/64'
  m_lan=$(( $(now_ms) - t0 ))
  info "$1: pppoe up after $m_ppp ms, odhcp6c bound after $m_dhcp ms, the prefix on lan0 after $m_lan ms"
  wait_for 60 "$1: the LAN host pings 198.51.100.1 again" lanhost_ping4
  b4=$(( $(now_ms) - t0 ))
  wait_for 60 "$1: the LAN host pings 2001:db8:ffff::1 again" lanhost_ping6
  info "$1: IPv4 back after $b4 ms, IPv6 after $(( $(now_ms) - t0 )) ms (odhcp6c-wan $(val odhcp6c-wan/state), pid $(val odhcp6c-wan/pid))"
}

router_up
wait_for 30 "the LAN host's IPv4 lease" '[ -n "$(lanhost_ipv4)" ]'
wait_for 30 "the LAN host's address in 2001:db8:1200::/64" '[ -n "$(lanhost_ipv6 2001:db8:1200:)" ]'
wait_for 20 "the LAN host pings 198.51.100.1" lanhost_ping4
wait_for 20 "the LAN host pings 2001:db8:ffff::1" lanhost_ping6
dhcp=$(val odhcp6c-wan/pid)

host set_link wan off
wait_for 5 "the kernel to see the carrier loss" carrier_is eth0 0
wait_for 10 "pppoe/state = waiting-for-carrier" is pppoe/state waiting-for-carrier
wait_for 10 "odhcp6c stopped with ppp0" is odhcp6c-wan/state waiting-for-interface
t0=$(now_ms)
host set_link wan on
both_back "cable"
[ "$(val odhcp6c-wan/pid)" != "$dhcp" ] || fail "odhcp6c was not restarted for the new ppp0"

p=$(client_pppd) || fail "no client pppd"
kill -9 "$p"
t0=$(now_ms)
both_back "pppd killed"
pass
