# lanhost: the whole chain (/etc/upd/services.fnl: netdev, pppoe with
# IPv6CP, odhcp6c on ppp0 driven by the replayer, lan, nat) from boot: the
# LAN host behind lan0 gets IPv4 by DHCP and an address in the delegated
# prefix by SLAAC, with the lease's lifetimes counting down (not forever),
# and pings the ISP's 198.51.100.1 (NATed out of ppp0) and 2001:db8:ffff::1
# (routed: the ISP routes the delegated /56 to the router); DNS through the
# router's dnsmasq, forwarding to the RDNSS odhcp6c published. Prints the
# times from boot.
# needs: upscript
# timeout: 150

router_up
info "pppoe up $UP_MS ms after eth0's carrier; delegated prefix on lan0 at $BOOT_MS ms since boot"
is odhcp6c-wan/ra_prefixes/1/prefix 2001:db8:1200:: || fail "odhcp6c-wan/ra_prefixes/1/prefix is $(val odhcp6c-wan/ra_prefixes/1/prefix)"
is lan/addresses/1/address 2001:db8:1200::1 || fail "lan/addresses/1/address is $(val lan/addresses/1/address)"
wait_for 5 "lan0 has 2001:db8:1200::1" 'ip -6 addr show dev lan0 | grep -q "2001:db8:1200::1/64"'
case $(ip -6 addr show dev lan0 | grep -A1 2001:db8:1200::1) in
  *valid_lft\ forever*) fail "lan0's address has an infinite lifetime: $(ip -6 addr show dev lan0)" ;;
esac

wait_for 30 "the LAN host's IPv4 lease" '[ -n "$(lanhost_ipv4)" ]'
info "LAN host IPv4 $(lanhost_ipv4) at $(now_ms) ms since boot"
wait_for 30 "the LAN host's SLAAC address in 2001:db8:1200::/64" '[ -n "$(lanhost_ipv6 2001:db8:1200:)" ]'
a6=$(lanhost_ipv6 2001:db8:1200:)
info "LAN host IPv6 $a6 at $(now_ms) ms since boot, lifetimes (valid preferred) $(lanhost_lifetimes 2001:db8:1200:)"
set -- $(lanhost_lifetimes 2001:db8:1200:)
[ "$1" != forever ] && [ "$2" != forever ] || fail "the LAN host's address has lifetimes $1 $2: dnsmasq advertised infinite lifetimes"
[ "${1%sec}" -le 7200 ] && [ "${2%sec}" -le 3600 ] || fail "the LAN host's lifetimes $1 $2 exceed the lease's (7200, 3600)"

wait_for 20 "nat/state = applied" is nat/state applied
wait_for 20 "the LAN host pings 198.51.100.1 (IPv4, NAT)" lanhost_ping4
t4=$(now_ms)
wait_for 20 "the LAN host pings 2001:db8:ffff::1 (IPv6)" lanhost_ping6
t6=$(now_ms)
info "LAN host reaches the ISP: IPv4 at $t4 ms, IPv6 at $t6 ms since boot"
wait_for 10 "the LAN host resolves isp.example through the router" \
  'lanhost nslookup isp.example 192.168.1.1 2>/dev/null | grep -q 198.51.100.1'
is lan/servers/1 2001:db8:ffff::53 || fail "lan/servers/1 is $(val lan/servers/1), not the RDNSS"
[ -n "$(val pppoe/ipv6/local-address)" ] || fail "pppoe publishes no ipv6/local-address"
case $(val pppoe/ipv6/local-address) in fe80:*) ;; *) fail "pppoe/ipv6/local-address is $(val pppoe/ipv6/local-address)" ;; esac
[ "$(val pppoe/since)" -gt 1000000000 ] || fail "pppoe/since $(val pppoe/since) is not seconds since the epoch"
sleep 2
set -- $(lanhost_lifetimes 2001:db8:1200:)
info "2 s later: lifetimes $1 $2 (counting down)"
pass "IPv4 at $t4 ms, IPv6 at $t6 ms since boot"
