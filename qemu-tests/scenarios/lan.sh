# lan: the lan service runs the router's dnsmasq (on the veth lan0 that
# /init makes, 192.168.1.1) with upstream servers from the pppoe service's dns/N. Two
# resolvers at the ISP (dnsmasq on 10.53.0.1 and 10.53.0.2) answer probe.test
# differently. The ISP first hands out 10.53.0.1 (ms-dns): the servers file
# says so and nslookup against the router's dnsmasq gets .1's answer. The ISP
# hangs up and comes back with pool 10.65.0.x and ms-dns 10.53.0.2: the
# servers file is rewritten, dnsmasq gets one SIGHUP per change of the list
# (hang-up: no servers; back: the new one), as many as it logged
# (`cleared cache`), no restart (same pid, HUP caught), and it now
# answers with .2's record (forwarded there: the reload also cleared its cache).
# needs: upscript
# timeout: 150

# The ISP's resolvers, on addresses of its loopback (reached over PPP).
isp ip addr add 10.53.0.1/32 dev lo
isp ip addr add 10.53.0.2/32 dev lo
for n in 1 2; do
  isp dnsmasq --conf-file=/dev/null --bind-interfaces --listen-address=10.53.0.$n \
    --no-resolv --no-hosts --user=root --group=root --pid-file=/run/isp-dns$n.pid \
    --address=/probe.test/192.0.2.$n || fail "the ISP's resolver 10.53.0.$n did not start"
done

# isp_dns_restart OPTIONS-DNS LOCAL FIRST-REMOTE: hangs up every session and
# restarts pppoe-server with another pool, its pppds handing out OPTIONS-DNS.
isp_dns_restart() {
  { cat /etc/ppp/pppoe-server-options; echo "ms-dns $1"; } > /tmp/isp-options-$1
  kill $(pids_of pppoe-server) 2>/dev/null
  kill $(isp_pppds) 2>/dev/null
  wait_for 10 "the ISP's pppds to exit" '[ -z "$(isp_pppds)" ]'
  isp pppoe-server -I eth1 -L "$2" -R "$3" -N 8 -O /tmp/isp-options-$1 ||
    fail "pppoe-server did not restart"
}
isp_dns_restart 10.53.0.1 10.64.0.1 10.64.0.10

[ -e /sys/class/net/lan0 ] || fail "no veth lan0 (made by /init)"
ip addr add 192.168.1.1/24 dev lan0
ip link set lan0 up

cat > /tmp/services.fnl <<'FNL'
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0"]}
 {:name "lan" :script "lan"
  :args ["/tmp/dnsmasq-lan.conf" "pppoe" "--interface" "lan0"
         "--" "--interface=lan0" "--bind-interfaces" "--no-resolv" "--no-hosts"
         "--log-queries" "--log-facility=/tmp/dnsmasq.log"
         "--user=root" "--group=root" "--pid-file=/tmp/dnsmasq-lan.pid"]}]
FNL
SERVERS=/tmp/dnsmasq-lan.conf.servers

# answer_is NAME ADDRESS: the router's dnsmasq resolves NAME to ADDRESS.
answer_is() {
  nslookup "$1" 192.168.1.1 2>/dev/null | sed -n '/^Name:/,$p' | grep -q "Address.*$2"
}
# dnsmasq logs `cleared cache` for each SIGHUP (once more at its start),
# then re-reads the servers file (`using nameserver` for each, if any).
hups_logged() { grep -c 'cleared cache' /tmp/dnsmasq.log 2>/dev/null; }
# The failure, with dnsmasq's log.
fail_dns() { echo "---- /tmp/dnsmasq.log"; cat /tmp/dnsmasq.log; fail "$@"; }

upd_up /tmp/services.fnl
wait_for 10 "lan/state = running" is lan/state running
wait_for 10 "the servers file names 10.53.0.1" grep -qx server=10.53.0.1 $SERVERS
wait_for 5 "lan/servers/1 = 10.53.0.1" is lan/servers/1 10.53.0.1
wait_for 10 "nslookup probe.test gets 192.0.2.1 (upstream 10.53.0.1)" answer_is probe.test 192.0.2.1
# (dnsmasq caches the answer: the reload must clear it for the new upstream.)
pid=$(val lan/pid)
reloads=$(val lan/reloads) restarts=$(val lan/restarts) hups=$(hups_logged)
first=$(cat $SERVERS)
info "first: dnsmasq $pid, servers $(grep server= $SERVERS | tr '\n' ' '), reloads $reloads, restarts $restarts, 'cleared cache' logged $hups times (once at its start)"

isp_dns_restart 10.53.0.2 10.65.0.1 10.65.0.20
wait_for 60 "pppoe/dns/1 = 10.53.0.2" is pppoe/dns/1 10.53.0.2
wait_for 10 "the servers file names 10.53.0.2" grep -qx server=10.53.0.2 $SERVERS
wait_for 10 "nslookup probe.test gets 192.0.2.2 (upstream 10.53.0.2)" answer_is probe.test 192.0.2.2
sleep 1   # anything late (a second SIGHUP) would show now
grep -q server=10.53.0.1 $SERVERS && fail "the old upstream is still in the servers file"
[ "$(cat $SERVERS)" != "$first" ] || fail "the servers file did not change"
[ "$(val lan/pid)" = "$pid" ] || fail "dnsmasq was restarted ($pid -> $(val lan/pid)); a servers change is a SIGHUP"
[ -d "/proc/$pid" ] || fail "dnsmasq $pid is gone"
# It catches SIGHUP (bit 1 of SigCgt), so a reload never kills it.
sigcgt=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status")
[ $(( 0x${sigcgt#${sigcgt%?}} & 1 )) = 1 ] || fail "dnsmasq $pid does not catch SIGHUP (SigCgt $sigcgt)"
[ "$(val lan/restarts)" = "$restarts" ] || fail "lan/restarts went from $restarts to $(val lan/restarts)"
d_reloads=$(( $(val lan/reloads) - reloads )) d_hups=$(( $(hups_logged) - hups ))
info "after the ISP's change: reloads +$d_reloads, SIGHUPs logged by dnsmasq +$d_hups, servers $(grep server= $SERVERS | tr '\n' ' ')"
[ "$d_reloads" = 2 ] || fail_dns "expected 2 SIGHUPs (servers gone at the hang-up, new one back), lan/reloads says $d_reloads"
[ "$d_hups" = "$d_reloads" ] || fail_dns "dnsmasq logged $d_hups SIGHUPs (cleared cache), lan/reloads says $d_reloads"
grep -q 'forwarded probe.test to 10.53.0.2' /tmp/dnsmasq.log || fail_dns "dnsmasq's log shows no query forwarded to 10.53.0.2"
pass
