# renumber: the whole chain, then two events from the ISP's DHCPv6 server
# (through the replayer, in odhcp6c's formats):
# 1. a malformed PREFIXES entry: the last good prefix stays published
#    (odhcp6c-wan/ra_prefixes, lan/addresses), the error is in
#    odhcp6c-wan/last-error, lan0 keeps its address and the LAN host keeps
#    reaching the ISP;
# 2. a new prefix, the old one withdrawn (valid 0, as odhcp6c passes it):
#    the LAN host deprecates its old address (the router's dnsmasq
#    advertises it with preferred 0), gets one in the new prefix, and
#    reaches the ISP from it; the old prefix is gone from lan0.
# needs: upscript
# timeout: 150

router_up
wait_for 30 "the LAN host's address in 2001:db8:1200::/64" '[ -n "$(lanhost_ipv6 2001:db8:1200:)" ]'
wait_for 20 "the LAN host pings 2001:db8:ffff::1" lanhost_ping6
old=$(lanhost_ipv6 2001:db8:1200:)
info "first prefix: LAN host $old"

# 1. malformed: "36oo" is no lifetime
isp-lease STATE=updated 'PREFIXES=2001:db8:1200::/56,36oo,7200,1800,2880' RDNSS=2001:db8:ffff::53
wait_for 10 "odhcp6c-wan/last-error published" '[ -n "$(val odhcp6c-wan/last-error)" ]'
info "malformed event rejected after $WAITED_MS ms: $(val odhcp6c-wan/last-error)"
case $(val odhcp6c-wan/last-error) in
  "PREFIXES entry '2001:db8:1200::/56,36oo,7200,1800,2880'"*) ;;
  *) fail "odhcp6c-wan/last-error does not name the entry: $(val odhcp6c-wan/last-error)" ;;
esac
is odhcp6c-wan/state updated || fail "odhcp6c-wan/state is $(val odhcp6c-wan/state)"
is odhcp6c-wan/ra_prefixes/1/prefix 2001:db8:1200:: || fail "the last good prefix was withdrawn: ra_prefixes/1/prefix is '$(val odhcp6c-wan/ra_prefixes/1/prefix)'"
sleep 1
is lan/addresses/1/address 2001:db8:1200::1 || fail "lan dropped its address: $(val lan/addresses/1/address)"
ip -6 addr show dev lan0 | grep -q 2001:db8:1200::1/64 || fail "lan0 lost 2001:db8:1200::1"
lanhost_ping6 || fail "the LAN host no longer reaches the ISP after the malformed event"
grep -q "36oo" /tmp/upd.log || fail "the rejected entry is not in /tmp/upd.log"

# 2. renumbering: the ISP routes and delegates 2001:db8:3400::/56 instead
t0=$(now_ms)
isp-route 2001:db8:3400::/56
isp-lease STATE=updated 'PREFIXES=2001:db8:3400::/56,3600,7200,1800,2880 2001:db8:1200::/56,0,0,0,0' RDNSS=2001:db8:ffff::53
wait_for 10 "odhcp6c-wan/ra_prefixes/1/prefix = 2001:db8:3400::" is odhcp6c-wan/ra_prefixes/1/prefix 2001:db8:3400::
[ -z "$(val odhcp6c-wan/last-error)" ] || fail "last-error still published after a good event"
wait_for 10 "lan0 has 2001:db8:3400::1" 'ip -6 addr show dev lan0 | grep -q 2001:db8:3400::1/64'
wait_for 5 "2001:db8:1200::1 gone from lan0" '! ip -6 addr show dev lan0 | grep -q 2001:db8:1200::1'
info "router renumbered after $(( $(now_ms) - t0 )) ms"
wait_for 30 "the LAN host's address in 2001:db8:3400::/64" '[ -n "$(lanhost_ipv6 2001:db8:3400:)" ]'
info "LAN host got $(lanhost_ipv6 2001:db8:3400:) after $(( $(now_ms) - t0 )) ms"
wait_for 30 "the LAN host deprecates $old" lanhost_deprecated 2001:db8:1200:
info "LAN host deprecated $old after $(( $(now_ms) - t0 )) ms: $(lanhost ip -6 addr show dev eth0 | grep -A1 'inet6 2001:db8:1200:' | tr -s ' ' | tr '\n' ' ')"
grep -q "old prefix" /tmp/dnsmasq.log && info "dnsmasq: $(grep 'old prefix' /tmp/dnsmasq.log | tail -n 1)"
wait_for 20 "the LAN host pings 2001:db8:ffff::1 from the new prefix" lanhost_ping6
src=$(lanhost ip -6 route get 2001:db8:ffff::1 | sed -n 's/.* src \([0-9a-f:]*\).*/\1/p')
case $src in 2001:db8:3400:*) ;; *) fail "the LAN host's source for the ISP is '$src', not in the new prefix" ;; esac
info "reaches the ISP from $src, $(( $(now_ms) - t0 )) ms after the renumbering"
pass
