# mqtt: a mosquitto broker on the ISP side (Debian's mipsel mosquitto, TLS,
# client certificates), mqtt-bridge on the router reaching it over PPPoE:
# the router's trees appear at the broker, and a key pushed at the broker
# (`upd fleet set`, run at the ISP) reaches root's authorized_keys through
# authorized-keys. Prints the memory of the bridge and of its openssl
# s_client, beside a long-lived mosquitto_sub, and what one mosquitto_pub
# (a process and a TLS handshake per message) costs here.
# needs: upscript
# timeout: 240

command -v mosquitto >/dev/null && command -v openssl >/dev/null || fail "no mosquitto/openssl in the image"
d=/tmp/mqtt
mkdir -p "$d" /root/.ssh
cat > "$d/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
EOF
t0=$(now_ms)
gen() {  # gen NAME SUBJECT-CN [EXTFILE]: a P-256 key and a certificate signed by the CA
  openssl req -config "$d/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$2" 2>/dev/null || fail "openssl req $1"
  openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/$1.pem" -days 2 ${3:+-extfile "$3"} 2>/dev/null || fail "openssl x509 $1"
}
openssl req -config "$d/openssl.cnf" -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=isp ca" 2>/dev/null || fail "openssl: the CA"
echo "subjectAltName=IP:10.64.0.1,IP:127.0.0.1" > "$d/ext"
gen broker broker "$d/ext"
gen router router
gen operator operator
info "certificates made in $(( $(now_ms) - t0 )) ms"

cat > "$d/mosquitto.conf" <<EOF
user root
per_listener_settings false
listener 8883
cafile $d/ca.pem
certfile $d/broker.pem
keyfile $d/broker.key
require_certificate true
use_identity_as_username true
allow_anonymous false
log_dest file $d/mosquitto.log
EOF
isp mosquitto -c "$d/mosquitto.conf" >"$d/mosquitto.out" 2>&1 &

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5YWxpY2VhbGljZWFsaWNlYWxpY2U admin@isp"
cat > "$d/services.fnl" <<EOF
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0"]}
 {:name "authorized-keys" :script "authorized-keys" :args ["ssh-keys"]}
 {:name "mqtt-bridge" :script "mqtt-bridge"
  :args ["--broker" "mqtts://10.64.0.1" "--id" "router" "--ca" "$d/ca.pem"
         "--cert" "$d/router.pem" "--key" "$d/router.key" "--set" "ssh-keys" "--max-backoff" "4"]}]
EOF
upd_up "$d/services.fnl"

# At the ISP, as the operator.
op_sub() { isp mosquitto_sub -h 127.0.0.1 --cafile "$d/ca.pem" --cert "$d/operator.pem" --key "$d/operator.key" "$@"; }
fleet() { isp upd fleet "$@" --broker mqtts://127.0.0.1 --ca "$d/ca.pem" --cert "$d/operator.pem" --key "$d/operator.key"; }
retained() { op_sub -t "$1" -v --retained-only -W 2 2>/dev/null; }
wait_for 60 "upd/router/pppoe/state up at the broker" 'retained upd/router/pppoe/state | grep -qx "upd/router/pppoe/state up"'
info "the router's pppoe tree at the broker $WAITED_MS ms after pppoe was up"
retained 'upd/router/eth0/#' | grep -qx 'upd/router/eth0/carrier yes' || fail "no eth0/carrier at the broker: $(retained 'upd/router/#')"
retained upd/router/status | grep -qx 'upd/router/status online' || fail "status: $(retained upd/router/status)"
info "fleet status at the ISP: $(fleet status 2>&1 | tail -n +2)"

t0=$(now_ms)
fleet set router ssh-keys/admin "$KEY" || fail "upd fleet set failed"
wait_for 30 "the pushed key in /root/.ssh/authorized_keys" 'grep -qxF "$KEY" /root/.ssh/authorized_keys'
info "key pushed at the ISP -> /root/.ssh/authorized_keys in $(( $(now_ms) - t0 )) ms"

# Memory: the bridge and its transport.
mem() {  # mem PID: VmRSS RssAnon Pss (kB)
  printf '%s %s %s' "$(awk '/^VmRSS/ {print $2}' /proc/$1/status)" "$(awk '/^RssAnon/ {print $2}' /proc/$1/status)" \
    "$(awk '/^Pss:/ {print $2}' /proc/$1/smaps_rollup 2>/dev/null)"
}
bp=$(upd get upd/services/mqtt-bridge/pid)
sp=
for p in /proc/[0-9]*; do
  [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$bp" ] && sp=${p#/proc/}
done
[ -n "$bp" ] && [ -n "$sp" ] || fail "no bridge ($bp) or s_client child ($sp)"
usleep 2000000
info "mipsel memory (VmRSS RssAnon Pss kB): bridge $(mem "$bp"); openssl s_client $(mem "$sp")"
mosquitto_sub -h 10.64.0.1 --cafile "$d/ca.pem" --cert "$d/router.pem" --key "$d/router.key" -t upd/router/none >/dev/null 2>&1 &
ms=$!
usleep 3000000
info "mipsel memory (VmRSS RssAnon Pss kB): a long-lived mosquitto_sub with TLS $(mem "$ms")"
kill "$ms"
# The same through the bridge: CPU of the bridge and its s_client per message.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in ticks
hz=100
printf 'seq=0\n' | upd publish mqtt-probe
wait_for 30 "a new tree at the broker" 'retained upd/router/mqtt-probe/seq | grep -qx "upd/router/mqtt-probe/seq 0"'
c0=$(( $(cpu "$bp") + $(cpu "$sp") ))
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do printf 'seq=%s\n' "$i" | upd publish mqtt-probe; usleep 200000; done
wait_for 20 "the last probe at the broker" 'retained upd/router/mqtt-probe/seq | grep -qx "upd/router/mqtt-probe/seq 20"'
c1=$(( $(cpu "$bp") + $(cpu "$sp") ))
info "through the bridge: 20 messages, bridge + s_client CPU $(( (c1 - c0) * 1000 / hz / 20 )) ms per message"
# One message by a process of its own: mosquitto_pub, TLS handshake included.
times=
for i in 1 2 3 4 5; do
  t0=$(now_ms)
  mosquitto_pub -h 10.64.0.1 --cafile "$d/ca.pem" --cert "$d/router.pem" --key "$d/router.key" \
    -t upd/router/probe -m "$i" -q 1 || fail "mosquitto_pub failed"
  times="$times $(( $(now_ms) - t0 ))"
done
info "one mosquitto_pub (fork, exec, TLS, publish, exit), ms:$times"
pass "key pushed; bridge $(mem "$bp") kB"
