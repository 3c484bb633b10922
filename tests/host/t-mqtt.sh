# mqtt-bridge against a real mosquitto (docs/mqtt.md): the router's trees as
# retained messages, only changes, a withdrawn tree cleared, online/offline
# through the last will, a key pushed by the operator reaching
# authorized_keys through authorized-keys, refusals, a network cut and a
# broker restart (the broker ends with the latest state), a clean stop.
# The broker runs in a network namespace, the router's supervisor in another.
. "$(dirname "$0")/lib.sh"
. "$HERE/mqtt-lib.sh"
mqtt_prerequisites
mqtt_certs r1 operator || { fail mqtt-certs "openssl could not make the test certificates"; exit 1; }
mqtt_netns || { fail mqtt-netns "cannot make the namespaces $NS_B/$NS_R"; exit 1; }
mqtt_broker_config || { fail mqtt-config "docs/mqtt-broker/mosquitto.conf has not the listeners expected"; exit 1; }
mqtt_acl_init || { fail mqtt-acl "fleet-acl init failed"; exit 1; }
mqtt_broker_start || { fail mqtt-broker "mosquitto did not start: $(tail -5 "$T/mosquitto.out" "$T/mosquitto.log")"; exit 1; }
{ mqtt_acl operator operator && mqtt_acl router r1; } \
    || { fail mqtt-acl "fleet-acl operator/router failed"; exit 1; }

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5YWxpY2VhbGljZWFsaWNlYWxpY2U admin@fleet"
printf 'state=running\nmtu=1500\n' | upd publish eth0
printf 'state=up\nclients/1=laptop\n' | upd publish lan
cat > "$T/services.fnl" <<EOF
[{:name "mqtt-bridge" :script "mqtt-bridge"
  :args ["--broker" "mqtts://$BROKER_IP:$CERT_PORT" "--id" "r1" "--ca" "$TLS/ca.pem"
         "--cert" "$TLS/r1.pem" "--key" "$TLS/r1.key" "--set" "ssh-keys"
         "--keepalive" "2" "--max-backoff" "2" "--rescan" "1"]}
 {:name "authorized-keys" :script "authorized-keys" :args ["ssh-keys" "--path" "$T/authorized_keys"]}]
EOF
ip netns exec "$NS_R" "$UPSCRIPT" upd run --config "$T/services.fnl" >"$T/upd.out" 2>&1 &
SUP_PID=$!
wait_for 5 test -e "$UPD_ROOT/upd" || { fail mqtt-supervisor "upd run did not start: $(cat "$T/upd.out")"; exit 1; }

op_sub_bg -t 'upd/r1/#' -v > "$T/watch" 2>&1
MQTT_PIDS="$MQTT_PIDS $!"

wait_for 10 retained_is upd/r1/status "upd/r1/status online" && pass mqtt-online \
    || fail mqtt-online "status: $(retained upd/r1/status); bridge: $(upd show mqtt-bridge 2>&1 | tr '\n' ' ')"
want_eth0="upd/r1/eth0/mtu 1500
upd/r1/eth0/state running"
wait_for 10 retained_is 'upd/r1/eth0/#' "$want_eth0" && retained_has 'upd/r1/lan/#' "upd/r1/lan/clients/1 laptop" \
    && pass mqtt-trees-retained || fail mqtt-trees-retained "eth0: $(retained 'upd/r1/eth0/#' | tr '\n' ' ')"
wait_for 10 retained_has 'upd/r1/authorized-keys/#' "upd/r1/authorized-keys/state waiting" \
    && pass mqtt-service-trees || fail mqtt-service-trees "$(retained 'upd/r1/authorized-keys/#' | tr '\n' ' ')"

# Only what changed: one message for one changed value.
before=$(grep -c '^upd/r1/eth0/' "$T/watch")
printf 'state=running\nmtu=1400\n' | upd publish eth0
wait_for 5 grep -q '^upd/r1/eth0/mtu 1400$' "$T/watch"
sleep 1
after=$(grep -c '^upd/r1/eth0/' "$T/watch")
[ $((after - before)) -eq 1 ] && pass mqtt-only-changes \
    || fail mqtt-only-changes "$((after - before)) eth0 messages for one changed value: $(tail -n $((after - before)) "$T/watch" | tr '\n' ' ')"

upd withdraw lan
wait_for 10 retained_is 'upd/r1/lan/#' "" && pass mqtt-withdraw-clears \
    || fail mqtt-withdraw-clears "left: $(retained 'upd/r1/lan/#' | tr '\n' ' ')"

# A tree published later is found (--rescan 1 here).
printf 'state=up\n' | upd publish late
wait_for 10 retained_is 'upd/r1/late/#' "upd/r1/late/state up" && pass mqtt-new-tree \
    || fail mqtt-new-tree "$(retained 'upd/r1/late/#')"

# The operator's console.
out=$(fleet status 2>&1)
printf '%s\n' "$out" | grep -Eq '^r1 +online +.*authorized-keys:waiting.*eth0:running' && pass mqtt-fleet-status \
    || fail mqtt-fleet-status "$out"
out=$(fleet show r1 eth0 2>&1)
[ "$out" = "mtu 1400
state running" ] && pass mqtt-fleet-show || fail mqtt-fleet-show "$out"

# A key pushed at the broker reaches authorized_keys through authorized-keys.
fleet set r1 ssh-keys/admin "$KEY" && pass mqtt-fleet-set || fail mqtt-fleet-set "exit $?"
wait_for 10 grep -qxF "$KEY" "$T/authorized_keys" && pass mqtt-remote-set-authorized-keys \
    || fail mqtt-remote-set-authorized-keys "file: $(cat "$T/authorized_keys" 2>&1); ssh-keys: $(upd show ssh-keys 2>&1)"
[ "$(stat -c %a "$UPD_ROOT/.ssh-keys")" = 700 ] && ! retained 'upd/r1/#' | grep -q '^upd/r1/ssh-keys/' \
    && pass mqtt-set-tree-private || fail mqtt-set-tree-private "$(stat -c %a "$UPD_ROOT/.ssh-keys"); $(retained 'upd/r1/ssh-keys/#')"

# Refused: a service not named with --set, a bad key, an oversized message;
# the bridge goes on (same pid) and a good one still arrives.
pid=$(service_pid mqtt-bridge)
op_pub -t upd/r1/set/firewall/rules -m 'drop everything' -q 1
op_pub -t 'upd/r1/set/ssh-keys/a b' -m x -q 1
head -c 100000 /dev/zero | tr '\0' x > "$T/big"
op_pub -t upd/r1/set/ssh-keys/big -f "$T/big" -q 1
op_pub -t upd/r1/set/ssh-keys/big2 -m "$(head -c 65537 "$T/big")" -q 1
fleet set r1 ssh-keys/second "$KEY-2" >/dev/null
wait_for 10 grep -q 'admin@fleet-2' "$T/authorized_keys" || true
if grep -q 'refused upd/r1/set/firewall/rules: service firewall is not configured for remote set' "$T/upd.out" \
   && grep -q 'refused upd/r1/set/ssh-keys/a b: bad key path' "$T/upd.out" \
   && grep -q 'refused upd/r1/set/ssh-keys/big: 100027 bytes' "$T/upd.out" \
   && grep -q 'refused upd/r1/set/ssh-keys/big2: 65537 bytes' "$T/upd.out" \
   && [ "$(upd get mqtt-bridge/refused)" = 4 ]; then
    pass mqtt-refused-logged
else
    fail mqtt-refused-logged "refused=$(upd get mqtt-bridge/refused 2>&1); log: $(grep refused "$T/upd.out" | tr '\n' ' ')"
fi
[ "$(service_pid mqtt-bridge)" = "$pid" ] && grep -q 'admin@fleet-2' "$T/authorized_keys" \
    && ! upd show ssh-keys | grep -q '^big' && pass mqtt-refused-bridge-goes-on \
    || fail mqtt-refused-bridge-goes-on "pid $(service_pid mqtt-bridge) (was $pid); keys: $(cat "$T/authorized_keys")"

# Last will: the bridge killed (its transport dies with it) is offline at
# once; the supervisor restarts it and it is online again.
: > "$T/watch.status"
op_sub_bg -t upd/r1/status -v > "$T/watch.status" 2>&1
MQTT_PIDS="$MQTT_PIDS $!"
sleep 0.5
kill -KILL "$pid"
wait_for 10 grep -q '^upd/r1/status offline$' "$T/watch.status" && pass mqtt-last-will \
    || fail mqtt-last-will "$(cat "$T/watch.status")"
wait_for 15 retained_is upd/r1/status "upd/r1/status online" && pass mqtt-back-online \
    || fail mqtt-back-online "$(retained upd/r1/status)"

# Network cut: the broker hears nothing (keepalive 2 s: the will after 3 s);
# what changes meanwhile is kept, the latest per topic, and sent once the
# link is back.
mqtt_cut
wait_for 10 retained_is upd/r1/status "upd/r1/status offline" && pass mqtt-cut-offline \
    || fail mqtt-cut-offline "$(retained upd/r1/status)"
for m in 1401 1402 1403; do printf 'state=running\nmtu=%s\n' $m | upd publish eth0; sleep 0.2; done
printf 'x=1\n' | upd publish during-cut
mqtt_mend
want_cut="upd/r1/eth0/mtu 1403
upd/r1/eth0/state running"
wait_for 20 retained_is 'upd/r1/eth0/#' "$want_cut" && wait_for 5 retained_is upd/r1/status "upd/r1/status online" \
    && retained_has 'upd/r1/during-cut/#' "upd/r1/during-cut/x 1" && pass mqtt-cut-latest-state \
    || fail mqtt-cut-latest-state "$(retained 'upd/r1/#' | tr '\n' ' '); bridge: $(upd show mqtt-bridge | tr '\n' ' ')"
grep -q '^upd/r1/eth0/mtu 1401$' "$T/watch" && fail mqtt-cut-no-queue "1401 was sent: a queue, not the latest state" \
    || pass mqtt-cut-no-queue

# Broker restart (its retained messages persist): meanwhile a value changes
# and a tree goes; the broker ends with the latest state.
old_broker=$BROKER_PID
mqtt_broker_stop
# The broker is really down (a test that kept it running would pass vacuously).
if gone "$old_broker" && ! op_sub -t upd-fleet/probe -W 1 -E >/dev/null 2>&1; then
    pass mqtt-broker-down
else
    fail mqtt-broker-down "the broker (pid $old_broker) still answers"
fi
printf 'state=running\nmtu=9000\n' | upd publish eth0
upd withdraw late
mqtt_broker_start || fail mqtt-broker-restart "mosquitto did not start again: $(tail -3 "$T/mosquitto.out" "$T/mosquitto.log")"
want_restart="upd/r1/eth0/mtu 9000
upd/r1/eth0/state running"
wait_for 20 retained_is 'upd/r1/eth0/#' "$want_restart" && retained_is 'upd/r1/late/#' "" \
    && wait_for 5 retained_is upd/r1/status "upd/r1/status online" && pass mqtt-broker-restart \
    || fail mqtt-broker-restart "$(retained 'upd/r1/#' | tr '\n' ' ')"
grep -qxF "$KEY" "$T/authorized_keys" && pass mqtt-keys-survive-restart || fail mqtt-keys-survive-restart "$(cat "$T/authorized_keys")"

# A clean stop says offline itself.
upd stop mqtt-bridge
wait_for 10 retained_is upd/r1/status "upd/r1/status offline" && pass mqtt-clean-stop \
    || fail mqtt-clean-stop "$(retained upd/r1/status)"
grep -q 'Client upd-r1 disconnected\.' "$T/mosquitto.log" && pass mqtt-clean-disconnect \
    || fail mqtt-clean-disconnect "no clean DISCONNECT in the broker's log: $(grep upd-r1 "$T/mosquitto.log" | tail -3)"
