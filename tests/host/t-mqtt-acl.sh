# The broker's access rules of docs/mqtt.md (docs/mqtt-broker/: mosquitto.conf
# and fleet-acl), against a real mosquitto: a router cannot publish as
# another, cannot push configuration (set/, its own or another's), cannot
# read other routers; the operator can. And the broker is verified: a wrong
# CA or a wrong name never connects; a wrong password is refused.
. "$(dirname "$0")/lib.sh"
. "$HERE/mqtt-lib.sh"
mqtt_prerequisites
mqtt_certs r1 r3 operator || { fail mqtt-acl-certs "openssl could not make the test certificates"; exit 1; }
mqtt_netns || { fail mqtt-acl-netns "cannot make the namespaces $NS_B/$NS_R"; exit 1; }
mqtt_broker_config || { fail mqtt-acl-config "docs/mqtt-broker/mosquitto.conf has not the listeners expected"; exit 1; }
mqtt_acl_init || { fail mqtt-acl-init "fleet-acl init failed"; exit 1; }
mqtt_broker_start || { fail mqtt-acl-broker "mosquitto did not start: $(tail -5 "$T/mosquitto.out")"; exit 1; }
if mqtt_acl operator operator && mqtt_acl router r1 && mqtt_acl router r2 r2secret && mqtt_acl router r3; then
    pass mqtt-acl-fleet-acl
else
    fail mqtt-acl-fleet-acl "fleet-acl failed"; exit 1
fi

# Two routers, each with its own state root: r1 by certificate, r2 by password.
ROOT1=$T/root1 ROOT2=$T/root2
mkdir -p "$ROOT1" "$ROOT2"
printf 'state=running\n' | UPD_ROOT=$ROOT1 upd publish eth0
printf 'state=running\n' | UPD_ROOT=$ROOT2 upd publish eth0
(umask 077; printf 'r2secret\n' > "$T/r2.password")
bridge() {  # bridge ROOT LOG ARGS...: an mqtt-bridge in the routers' namespace
    local root=$1 log=$2; shift 2
    UPD_ROOT=$root UPD_SERVICE=mqtt-bridge ip netns exec "$NS_R" "$UPSCRIPT" -m mqtt-bridge --keepalive 5 --max-backoff 2 "$@" \
        >"$T/$log" 2>&1 &
    MQTT_PIDS="$MQTT_PIDS $!"
}
bridge "$ROOT1" r1.log --broker "mqtts://$BROKER_IP:$CERT_PORT" --id r1 --ca "$TLS/ca.pem" \
    --cert "$TLS/r1.pem" --key "$TLS/r1.key" --set ssh-keys
bridge "$ROOT2" r2.log --broker "mqtts://$BROKER_IP:$PASS_PORT" --id r2 --ca "$TLS/ca.pem" \
    --user r2 --password-file "$T/r2.password" --set ssh-keys
wait_for 10 retained_has 'upd/+/status' "upd/r1/status online" && wait_for 5 retained_has 'upd/+/status' "upd/r2/status online" \
    && pass mqtt-acl-routers-online || fail mqtt-acl-routers-online "$(retained 'upd/+/status' | tr '\n' ' '); r2: $(cat "$T/r2.log")"

# As router r2 (its password) and r1 (its certificate), by hand.
r2_pub() { in_r mosquitto_pub -h "$BROKER_IP" -p "$PASS_PORT" --cafile "$TLS/ca.pem" -u r2 -P r2secret -q 1 "$@"; }
r1_pub() { in_r mosquitto_pub -h "$BROKER_IP" -p "$CERT_PORT" --cafile "$TLS/ca.pem" \
               --cert "$TLS/r1.pem" --key "$TLS/r1.key" -q 1 "$@"; }
r1_sub() { in_r mosquitto_sub -h "$BROKER_IP" -p "$CERT_PORT" --cafile "$TLS/ca.pem" \
               --cert "$TLS/r1.pem" --key "$TLS/r1.key" "$@"; }

r2_pub -t upd/r1/eth0/state -m forged -r
r2_pub -t upd/r1/status -m offline -r
sleep 1
retained_is 'upd/r1/eth0/#' "upd/r1/eth0/state running" && retained_is upd/r1/status "upd/r1/status online" \
    && pass mqtt-acl-no-publishing-as-another || fail mqtt-acl-no-publishing-as-another "$(retained 'upd/r1/#' | tr '\n' ' ')"

r1_pub -t upd/r1/set/ssh-keys/evil -m "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGV2aWxldmlsZXZpbGV2aWxldmlsZXZpbA evil" -r
r1_pub -t upd/r2/set/ssh-keys/evil -m "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGV2aWxldmlsZXZpbGV2aWxldmlsZXZpbA evil" -r
sleep 1
if retained_is 'upd/+/set/#' "" && [ ! -e "$ROOT1/ssh-keys" ] && [ ! -e "$ROOT2/ssh-keys" ]; then
    pass mqtt-acl-routers-cannot-push-configuration
else
    fail mqtt-acl-routers-cannot-push-configuration "set/: $(retained 'upd/+/set/#' | tr '\n' ' ')"
fi

out=$(r1_sub -t 'upd/r2/#' -t 'upd/#' -v -W 2 2>&1)
case $out in
    *"upd/r2/"*) fail mqtt-acl-no-reading-others "r1 read: $out" ;;
    *) pass mqtt-acl-no-reading-others ;;
esac

fleet set r2 ssh-keys/admin "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5YWxpY2VhbGljZWFsaWNlYWxpY2U op" \
    && wait_for 10 test -e "$ROOT2/ssh-keys" && pass mqtt-acl-operator-pushes \
    || fail mqtt-acl-operator-pushes "r2's ssh-keys: $(UPD_ROOT=$ROOT2 upd show ssh-keys 2>&1); r2: $(cat "$T/r2.log")"

# A router whose certificate names another id cannot write that id's topics.
mkdir -p "$T/root3"; printf 'state=impostor\n' | UPD_ROOT=$T/root3 upd publish eth0
bridge "$T/root3" r3.log --broker "mqtts://$BROKER_IP:$CERT_PORT" --id r2 --ca "$TLS/ca.pem" \
    --cert "$TLS/r3.pem" --key "$TLS/r3.key"
sleep 3
retained_is 'upd/r2/eth0/#' "upd/r2/eth0/state running" && pass mqtt-acl-id-is-the-certificate \
    || fail mqtt-acl-id-is-the-certificate "$(retained 'upd/r2/#' | tr '\n' ' ')"

# A password file anyone on the router can read is refused, in one line.
printf 'r2secret\n' > "$T/open.password"; chmod 644 "$T/open.password"
out=$(UPD_ROOT=$T/root2 "$UPSCRIPT" -m mqtt-bridge --broker "mqtts://$BROKER_IP:$PASS_PORT" --id r2 \
        --ca "$TLS/ca.pem" --user r2 --password-file "$T/open.password" 2>&1); code=$?
[ $code = 2 ] && [ "$(printf '%s\n' "$out" | head -n1)" = "mqtt-bridge: --password-file: $T/open.password is readable by others (mode 644): chmod o-r it" ] \
    && pass mqtt-acl-open-password-file-refused || fail mqtt-acl-open-password-file-refused "exit $code: $out"

# The broker is verified; the password checked.
mkdir -p "$T/root4"
bridge "$T/root4" rogue.log --broker "mqtts://$BROKER_IP:$CERT_PORT" --id r1 --ca "$TLS/rogue.pem" \
    --cert "$TLS/r1.pem" --key "$TLS/r1.key"
(umask 077; printf 'r2wrong\n' > "$T/wrong.password")
bridge "$T/root4" wrongpw.log --broker "mqtts://$BROKER_IP:$PASS_PORT" --id r2 --ca "$TLS/ca.pem" \
    --user r2 --password-file "$T/wrong.password" --name bridge-wrongpw
UPD_ROOT=$T/root4 UPD_SERVICE=bridge-wrongname ip netns exec "$NS_B" "$UPSCRIPT" -m mqtt-bridge --broker "mqtts://127.0.0.2:$CERT_PORT" \
    --id r1 --ca "$TLS/ca.pem" --cert "$TLS/r1.pem" --key "$TLS/r1.key" --name bridge-wrongname >"$T/wrongname.log" 2>&1 &
MQTT_PIDS="$MQTT_PIDS $!"
wait_for 10 grep -q 'certificate verify failed\|verify error' "$T/rogue.log" && pass mqtt-acl-broker-verified-ca \
    || fail mqtt-acl-broker-verified-ca "$(cat "$T/rogue.log")"
wait_for 10 grep -q 'IP address mismatch\|verify error' "$T/wrongname.log" && pass mqtt-acl-broker-verified-name \
    || fail mqtt-acl-broker-verified-name "$(cat "$T/wrongname.log")"
wait_for 10 grep -q 'connection refused: not authorized\|connection refused: bad user name or password' "$T/wrongpw.log" \
    && pass mqtt-acl-wrong-password || fail mqtt-acl-wrong-password "$(cat "$T/wrongpw.log")"
[ "$(UPD_ROOT=$T/root4 upd get mqtt-bridge/state)" = offline ] && pass mqtt-acl-unverified-stays-offline \
    || fail mqtt-acl-unverified-stays-offline "$(UPD_ROOT=$T/root4 upd show mqtt-bridge 2>&1 | tr '\n' ' ')"
