# l2tp: the l2tp service supervises xl2tpd as a LAC towards the ISP's LNS
# (another xl2tpd, in the ISP's namespace, across eth0/eth1 addressed
# 192.168.100.2 and .1): tunnel/state goes to established, the ppp session
# starts only after it (a sampler sees no router ppp unit while the published
# tunnel is not established), l2tp0 comes up with an address from the LNS's
# pool and answers ping. SIGKILL to the router's pppd: the tunnel stays
# established and a new call on it brings l2tp0 back. SIGKILL to the
# router's xl2tpd: backoff 1 s, a new xl2tpd, tunnel and session back; killed
# again after that: backoff 1 s again (an established tunnel reset it).
# xl2tpd's control directory (/run/xl2tpd) and xl2tpd-control's
# (/var/run/xl2tpd) are missing at start: the service makes them.
# needs: upscript
# timeout: 120

L=l2tp-isp
mkdir -p /run/xl2tpd-isp   # the LNS's (not upd's) FIFO
rm -rf /run/xl2tpd /var/run/xl2tpd
[ ! -e /run/xl2tpd ] || fail "/run/xl2tpd exists before the test"
ip addr add 192.168.100.2/24 dev eth0
isp ip addr add 192.168.100.1/24 dev eth1
isp sh -c 'xl2tpd -D -c /etc/xl2tpd/lns.conf -C /run/xl2tpd-isp/control -p /run/xl2tpd-isp/pid >/tmp/lns.log 2>&1 &'

cat > /tmp/services.fnl <<'FNL'
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "l2tp-isp" :script "l2tp" :args ["isp" "--ppp" "l2tp0" "--poll" "1"]}]
FNL

# The router's pppd (started by its xl2tpd with the LAC's option file).
lac_pppd() {
  for p in $(pids_of pppd); do
    grep -q 'options.l2tp-lac' "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}

# Samples, with shell builtins only (a few ms a round, no fork), what the
# service publishes and whether the router's ppp unit exists (pppd creates it
# as ppp0 and renames it l2tp0 as it starts); writes each change, until
# /tmp/sampler.stop exists. The unit is read before the state, so a sample
# with a unit and a tunnel not established is a real violation, never a race
# of the sampler (reading two files is not atomic: `tunnel=connecting
# session=connecting` can show up between two publishes).
sampler() {
  _last= _n=0
  while [ ! -e /tmp/sampler.stop ]; do
    _l=none
    if [ -e /sys/class/net/l2tp0 ] || [ -e /sys/class/net/ppp0 ]; then _l=ppp; fi
    _t= _s=
    read -r _t < /run/upd/$L/tunnel/state
    read -r _s < /run/upd/$L/session/state
    _n=$((_n + 1))
    _cur="tunnel=$_t session=$_s link=$_l"
    [ "$_cur" != "$_last" ] && echo "$_n $_cur"
    _last=$_cur
  done 2>/dev/null > /tmp/l2tp-trace
  echo "$_n samples" >> /tmp/l2tp-trace
}
sampler &

# established_and_up: tunnel established, session up, l2tp0 addressed.
established_and_up() {
  wait_for 30 "$L/tunnel/state = established" is $L/tunnel/state established
  info "tunnel established ${WAITED_MS} ms after waiting"
  wait_for 30 "$L/session/state = up" is $L/session/state up
  wait_for 5 "$L/state = up" is $L/state up
  wait_for 5 "l2tp0 has an IPv4 address" has_ipv4 l2tp0
  case $(ipv4_of l2tp0)/$(peer_of l2tp0) in
    10.66.0.1[0-9]/10.66.0.1|10.66.0.20/10.66.0.1) ;;
    *) fail "l2tp0 has $(ipv4_of l2tp0) peer $(peer_of l2tp0), not from the LNS's pool" ;;
  esac
  ping -c 1 -W 3 10.66.0.1 >/dev/null || fail "no ping over l2tp0 to 10.66.0.1"
}

# kill_xl2tpd: SIGKILL to the router's xl2tpd; sets BACKOFF and RESTART_MS.
kill_xl2tpd() {
  _old=$(val $L/pid)
  [ -n "$_old" ] && grep -q xl2tpd.conf "/proc/$_old/cmdline" || fail "no router xl2tpd (pid '$_old')"
  kill -9 "$_old"
  _t0=$(now_ms)
  wait_for 3 "$L/state = backoff after SIGKILL of xl2tpd $_old" is $L/state backoff
  BACKOFF=$(val $L/backoff)
  is $L/tunnel/state down || fail "tunnel/state is $(val $L/tunnel/state) with xl2tpd dead"
  wait_for 10 "a new xl2tpd" '[ -n "$(val $L/pid)" ] && [ "$(val $L/pid)" != "$_old" ]'
  RESTART_MS=$(( $(now_ms) - _t0 ))
}

start_upd /tmp/services.fnl
wait_for 20 "/run/upd/eth0/carrier = yes" is eth0/carrier yes
established_and_up
[ -p /run/xl2tpd/l2tp-control ] || fail "no control FIFO /run/xl2tpd/l2tp-control"
[ -d /var/run/xl2tpd ] || fail "no /var/run/xl2tpd for xl2tpd-control's replies"
info "the missing control directories were made; xl2tpd up"
info "first session: l2tp0 $(ipv4_of l2tp0) peer $(peer_of l2tp0)"

# The call alone: the router's pppd killed, the tunnel stays; a new call on it.
p=$(lac_pppd) || fail "no router pppd"
kill -9 "$p"
wait_for 5 "$L/session/state = down after SIGKILL of pppd $p" is $L/session/state down
is $L/tunnel/state established || fail "tunnel/state is $(val $L/tunnel/state) after the call alone ended"
established_and_up
np=$(lac_pppd)
[ -n "$np" ] && [ "$np" != "$p" ] || fail "no new router pppd"
info "pppd killed: a new call on the same tunnel, pppd $np, l2tp0 $(ipv4_of l2tp0)"

kill_xl2tpd
info "1st kill: backoff $BACKOFF s, new xl2tpd after $RESTART_MS ms"
[ "$BACKOFF" = 1 ] || fail "backoff is '$BACKOFF', expected 1"
[ "$RESTART_MS" -ge 700 ] || fail "xl2tpd restarted after $RESTART_MS ms, before its 1 s backoff"
established_and_up
info "after the restart: l2tp0 $(ipv4_of l2tp0) peer $(peer_of l2tp0)"

kill_xl2tpd
info "2nd kill (a tunnel was established in between): backoff $BACKOFF s"
[ "$BACKOFF" = 1 ] || fail "backoff after an established tunnel is '$BACKOFF', expected 1 (not reset)"
established_and_up

touch /tmp/sampler.stop; sleep 0.3
info "sampler: $(tail -n 1 /tmp/l2tp-trace); changes: $(sed '$d' /tmp/l2tp-trace | cut -d' ' -f2- | tr '\n' ';')"
# A unit appearing (none -> ppp) is a session starting; one lingering after a
# kill while the tunnel is already down is the old session's pppd exiting.
bad=$(awk '{ if ($4 == "link=ppp" && prev == "link=none" && $2 != "tunnel=established") print; prev = $4 }' /tmp/l2tp-trace | head -n 3)
[ -z "$bad" ] || fail "a router ppp unit appeared while the tunnel was not published as established: $bad"
grep -q 'tunnel=connecting session=down link=none' /tmp/l2tp-trace ||
  fail "never saw the dial (tunnel connecting, session down, no ppp unit)"
grep -q 'tunnel=established session=connecting' /tmp/l2tp-trace ||
  fail "never saw the session connecting on the established tunnel"
pass
