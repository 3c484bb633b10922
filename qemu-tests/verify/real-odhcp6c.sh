# real-odhcp6c (by hand, not in CI: ODHCP6C=/path/to/mipsel/odhcp6c
# qemu-tests/run real-odhcp6c): a real odhcp6c, supervised by the odhcp6c
# service, gets a delegated prefix from the ISP's ISC dhcpd, and the chain
# puts it on the LAN: the LAN host pings the ISP over IPv6 from it. Then the
# same odhcp6c as the LAN host's DHCPv6 client against the router's dnsmasq
# (stateless: it gets DNS, the router's address, informed).
# Over IPoE (odhcp6c on eth0, dhcpd on eth1): ISC dhcpd 4.4.3 refuses PPP
# interfaces ("Unsupported device type 512"), so it cannot answer on ppp0.
# needs: upscript
# timeout: 150

[ -L /usr/sbin/odhcp6c ] && fail "no real odhcp6c in the image (give ODHCP6C=path)"
[ -x /usr/sbin/dhcpd ] || fail "no dhcpd in the image"
isp ip -6 addr add 2001:db8:ffff:1::1/64 dev eth1
d=/run/isp-dhcp6; mkdir -p $d; touch $d/dhcpd6.leases
cat > $d/dhcpd6.conf <<'CONF'
default-lease-time 7200;
preferred-lifetime 3600;
option dhcp6.name-servers 2001:db8:ffff::53;
subnet6 2001:db8:ffff:1::/64 {
  prefix6 2001:db8:1200:: 2001:db8:1200:: /56;
}
CONF
isp sh -c "/usr/sbin/dhcpd -6 -cf $d/dhcpd6.conf -lf $d/dhcpd6.leases -pf $d/dhcpd.pid eth1 >/tmp/isp-dhcpd.log 2>&1" ||
  { cat /tmp/isp-dhcpd.log; fail "dhcpd did not start"; }
# The ISP routes the delegated prefix to the router's link-local address;
# the router's default route is the ISP's.
isp ip -6 route add 2001:db8:1200::/56 via fe80::5054:ff:fe00:1 dev eth1
ip -6 route add default via fe80::5054:ff:fe00:2 dev eth0

cat > /tmp/services.fnl <<'FNL'
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "odhcp6c-wan" :script "odhcp6c" :args ["eth0" "--" "-P" "56"]}
 {:name "lan" :script "lan"
  :args ["/run/dnsmasq-lan.conf" "odhcp6c-wan" "--interface" "lan0"
         "--" "--interface=lan0" "--bind-dynamic" "--no-resolv" "--no-hosts"
         "--log-facility=/tmp/dnsmasq.log" "--user=root" "--group=root"]}]
FNL
start_upd /tmp/services.fnl
wait_for 40 "odhcp6c-wan bound (a real odhcp6c)" is odhcp6c-wan/state bound
info "odhcp6c bound after $WAITED_MS ms; PREFIXES as odhcp6c passed it: $(val odhcp6c-wan/prefixes/1/prefix)/$(val odhcp6c-wan/prefixes/1/length) preferred $(val odhcp6c-wan/prefixes/1/preferred) valid $(val odhcp6c-wan/prefixes/1/valid) t1 $(val odhcp6c-wan/prefixes/1/t1) t2 $(val odhcp6c-wan/prefixes/1/t2); rdnss $(val odhcp6c-wan/rdnss/1); server $(val odhcp6c-wan/server/1)"
is odhcp6c-wan/ra_prefixes/1/prefix 2001:db8:1200:: || fail "ra_prefixes/1/prefix is '$(val odhcp6c-wan/ra_prefixes/1/prefix)'"
[ -z "$(val odhcp6c-wan/last-error)" ] || fail "the script rejected odhcp6c's own variables: $(val odhcp6c-wan/last-error)"
wait_for 20 "lan0 has 2001:db8:1200::1" 'ip -6 addr show dev lan0 | grep -q 2001:db8:1200::1/64'
wait_for 30 "the LAN host's address in 2001:db8:1200::/64" '[ -n "$(lanhost_ipv6 2001:db8:1200:)" ]'
info "LAN host $(lanhost_ipv6 2001:db8:1200:), lifetimes $(lanhost_lifetimes 2001:db8:1200:)"
wait_for 20 "the LAN host pings 2001:db8:ffff::1" lanhost_ping6
cat > /tmp/dump6.sh <<'SH'
#!/bin/sh
[ "$2" = informed ] || [ "$2" = bound ] || exit 0
echo "$2 ADDRESSES=$ADDRESSES RDNSS=$RDNSS RA_ADDRESSES=$RA_ADDRESSES" >> /tmp/lanhost-dhcp6
SH
chmod 755 /tmp/dump6.sh
lanhost /usr/sbin/odhcp6c -s /tmp/dump6.sh eth0 >/tmp/lanhost-odhcp6c.log 2>&1 &
wait_for 30 "the LAN host's DHCPv6 answer from dnsmasq" 'grep -q "RDNSS=2001:db8:1200::1" /tmp/lanhost-dhcp6'
info "LAN host's DHCPv6 (dnsmasq): $(head -n 1 /tmp/lanhost-dhcp6)"
for k in $(cd /run/upd/odhcp6c-wan && ls); do info "odhcp6c-wan/$k: $(find /run/upd/odhcp6c-wan/$k -type f 2>/dev/null | head -n 8 | while read f; do printf '%s=%s ' "${f#/run/upd/odhcp6c-wan/}" "$(cat $f)"; done)"; done
pass
