# Helpers for scenarios (sourced by /init before /test/scenario; busybox sh).
# Markers on the console, read by the host harness (qemu-tests/lib/vm.py):
#   @@PASS name / @@FAIL name: why   the result (the first one counts)
#   @@INFO text                      printed by the harness
#   @@HOST monitor-command           run in the QEMU monitor; the harness
#                                    answers "@@ACK" (or "@@NAK error") on
#                                    the console's input
T=${T:-scenario}

info() { echo "@@INFO $T: $*"; }

# Diagnostics first, then the marker, so the marker is the last word.
fail() {
  echo "---- diagnostics for $T"
  if [ -x /bin/upscript ]; then
    upd status 2>&1 | cat
    for _s in $(ls /run/upd 2>/dev/null); do echo "-- upd show $_s"; upd show "$_s" 2>&1; done
  fi
  ip addr 2>&1 | grep -E '^[0-9]|inet '
  ps 2>&1 | grep -v ' \[.*\]$'
  echo "---- /tmp/upd.log"; tail -n 40 /tmp/upd.log 2>/dev/null
  echo "---- /tmp/messages"; tail -n 40 /tmp/messages 2>/dev/null
  echo "@@FAIL $T: $*"
  exit 1
}

pass() { echo "@@PASS $T${1:+ ($*)}"; }

# Milliseconds since boot (10 ms resolution).
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# wait_for SECS WHAT CMD...: polls CMD (evaluated again each time, so quote
# any $(...) in it) every 50 ms; fails the scenario when it has not succeeded
# within SECS (an integer). Sets WAITED_MS to the time it took.
wait_for() {
  _secs=$1 _what=$2; shift 2
  _t0=$(now_ms); _deadline=$((_t0 + _secs * 1000))
  while ! eval "$*" >/dev/null 2>&1; do
    [ "$(now_ms)" -ge "$_deadline" ] && fail "$_what: not within ${_secs} s"
    usleep 50000
  done
  WAITED_MS=$(( $(now_ms) - _t0 ))
}

# host CMD: a QEMU monitor command (an action, such as `set_link wan off`),
# done by the host; returns once done, fails the scenario if the monitor
# answered with an error.
host() {
  echo "@@HOST $*"
  read -r -t 20 _ack || fail "no answer from the host for: $*"
  case $_ack in
    @@ACK*) ;;
    *) fail "host command '$*' failed: ${_ack#@@NAK }" ;;
  esac
}

# The ISP's network namespace.
isp() { nsenter -t "$(cat /run/isp.pid)" -n "$@"; }

# val SERVICE/PATH: a published value (the file, without upd's reader).
val() { cat "/run/upd/$1" 2>/dev/null; }
is() { [ "$(val "$1")" = "$2" ]; }

ipv4_of() { ip -4 addr show dev "$1" 2>/dev/null | sed -n 's/.*inet \([0-9.]*\).*/\1/p' | head -n1; }
peer_of() { ip -4 addr show dev "$1" 2>/dev/null | sed -n 's/.*peer \([0-9.]*\).*/\1/p' | head -n1; }
has_ipv4() { [ -n "$(ipv4_of "$1")" ]; }
carrier() { cat "/sys/class/net/$1/carrier" 2>/dev/null; }
carrier_is() { [ "$(carrier "$1")" = "$2" ]; }

pids_of() { pidof "$1" 2>/dev/null; }

# The pid of the client pppd (the one on eth0, not the ISP's pppds).
client_pppd() {
  for p in $(pids_of pppd); do
    tr '\0' ' ' < "/proc/$p/cmdline" | grep -q 'eth0' && { echo "$p"; return 0; }
  done
  return 1
}

# start_upd: upd supervising /etc/upd/wan.fnl (or $1), logging to /tmp/upd.log.
start_upd() {
  [ -x /bin/upscript ] || fail "/bin/upscript is missing from the image"
  setsid upd run --config "${1:-/etc/upd/wan.fnl}" >>/tmp/upd.log 2>&1 &
  echo $! > /run/upd-run.pid
}

# upd_up [CONFIG]: starts upd (default: the WAN alone, /etc/upd/wan.fnl) and
# waits for the router's normal state: eth0 carrier published, PPPoE up with
# its addresses, ppp0 configured.
upd_up() {
  start_upd "$@"
  wait_for 20 "/run/upd/eth0/carrier = yes" is eth0/carrier yes
  wait_for 40 "/run/upd/pppoe/state = up" is pppoe/state up
  UP_MS=$WAITED_MS
  wait_for 5 "ppp0 has an IPv4 address" has_ipv4 ppp0
  wait_for 5 "pppoe/local-address published" '[ -n "$(val pppoe/local-address)" ]'
}

# pppoe_matches_ppp0: the published addresses are those of ppp0 now.
pppoe_matches_ppp0() {
  [ "$(val pppoe/local-address)" = "$(ipv4_of ppp0)" ] &&
    [ "$(val pppoe/remote-address)" = "$(peer_of ppp0)" ]
}

# The ISP's pppds (started by pppoe-server, `pppd pty ...`).
isp_pppds() {
  for p in $(pids_of pppd); do
    tr '\0' ' ' < "/proc/$p/cmdline" | grep -q '^pppd pty' && echo "$p"
  done
}

# isp_restart LOCAL FIRST-REMOTE: hangs up every session (the ISP's pppds send
# an LCP terminate) and restarts pppoe-server with another address pool.
isp_restart() {
  kill $(pids_of pppoe-server) 2>/dev/null
  kill $(isp_pppds) 2>/dev/null
  wait_for 10 "the ISP's pppds to exit" '[ -z "$(isp_pppds)" ]'
  isp pppoe-server -I eth1 -L "$1" -R "$2" -N 8 -O /etc/ppp/pppoe-server-options ||
    fail "pppoe-server did not restart"
}

# Every upscript process (the supervisor, `upd ...`, and the service scripts).
upscript_pids() {
  for d in /proc/[0-9]*; do
    [ "$(readlink "$d/exe" 2>/dev/null)" = /bin/upscript ] && echo "${d#/proc/}"
  done
}

# The LAN host (a namespace behind lan0; its interface is eth0).
lanhost() { nsenter -t "$(cat /run/lanhost.pid)" -n "$@"; }
lanhost_ipv4() { lanhost ip -4 addr show dev eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p' | head -n1; }
# lanhost_ipv6 PREFIX: the LAN host's global address in PREFIX (e.g. 2001:db8:1200:),
# not deprecated unless $2 = any.
lanhost_ipv6() {
  lanhost ip -6 addr show dev eth0 | grep "inet6 $1" | { [ "${2:-}" = any ] && cat || grep -v deprecated; } |
    sed -n 's/.*inet6 \([0-9a-f:]*\).*/\1/p' | head -n1
}
lanhost_deprecated() { lanhost ip -6 addr show dev eth0 | grep "inet6 $1" | grep -q deprecated; }
# lanhost_lifetimes PREFIX: "VALID PREFERRED" of its address there (seconds or forever).
lanhost_lifetimes() {
  lanhost ip -6 addr show dev eth0 | grep -A1 "inet6 $1" | sed -n 's/.*valid_lft \([^ ]*\) preferred_lft \([^ ]*\).*/\1 \2/p' | head -n1
}
lanhost_ping4() { lanhost ping -c 1 -W 2 "${1:-198.51.100.1}" >/dev/null 2>&1; }
lanhost_ping6() { lanhost ping6 -c 1 -W 2 "${1:-2001:db8:ffff::1}" >/dev/null 2>&1; }

# router_up: the whole chain (/etc/upd/services.fnl) with the LAN host
# asking for IPv4; waits for PPPoE up and the delegated prefix on lan0.
# Sets UP_MS (pppoe up after eth0's carrier) and BOOT_MS (since boot, at the end).
router_up() {
  isp-delegate
  start_upd /etc/upd/services.fnl
  lanhost udhcpc -b -T 1 -t 30 -A 1 -i eth0 -s /etc/lanhost-udhcpc >/dev/null 2>&1
  wait_for 20 "/run/upd/eth0/carrier = yes" is eth0/carrier yes
  wait_for 40 "/run/upd/pppoe/state = up" is pppoe/state up
  UP_MS=$WAITED_MS
  wait_for 30 "odhcp6c-wan/ra_prefixes/1 published" '[ -n "$(val odhcp6c-wan/ra_prefixes/1/prefix)" ]'
  wait_for 20 "lan/addresses/1 published" '[ -n "$(val lan/addresses/1/address)" ]'
  BOOT_MS=$(now_ms)
}

# upd_pppds: how many client pppds (on eth0, either mode) run.
upd_pppds() {
  _n=0
  for p in $(pids_of pppd); do
    tr '\0' ' ' < "/proc/$p/cmdline" | grep -q 'eth0' && _n=$((_n + 1))
  done
  echo $_n
}
