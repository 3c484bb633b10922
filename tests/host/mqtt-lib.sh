# Shared by tests/host/t-mqtt*.sh (sourced after lib.sh): a real mosquitto
# broker, configured from docs/mqtt-broker/ (its mosquitto.conf, its
# fleet-acl rules), in a network namespace of its own; the routers in
# another, joined by a veth pair that a test can cut. Names carry our pid:
# other engineers' tests run at the same time.
REPO=$(cd "$HERE/../.." && pwd)
EXAMPLE=$REPO/docs/mqtt-broker
NS_B=upd-mq$$-b NS_R=upd-mq$$-r
VETH_B=umq$$b VETH_R=umq$$r
BROKER_IP=10.77.0.1 ROUTER_IP=10.77.0.2
TLS=$T/tls
BROKER_PID=
MQTT_PIDS=

mqtt_cleanup() {
    for p in $MQTT_PIDS $BROKER_PID; do kill "$p" 2>/dev/null; done
    for p in $MQTT_PIDS $BROKER_PID; do
        wait_for 3 gone "$p" || kill -KILL "$p" 2>/dev/null
    done
    # Whatever is still in this run's namespaces (ours only: their names
    # carry our pid) ends too: deleting a namespace does not end its processes.
    for ns in "$NS_R" "$NS_B"; do
        left=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$left" ] || continue
        kill $left 2>/dev/null
        for p in $left; do wait_for 3 gone "$p" || kill -KILL "$p" 2>/dev/null; done
    done
    ip netns del "$NS_R" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
}
trap 'mqtt_cleanup; cleanup' EXIT

# In the foreground only: `in_b CMD &` would give $! of a subshell, not of
# CMD (killing it leaves CMD running). In the background, write
# `ip netns exec "$NS_B" CMD &`: ip execs CMD, so $! is CMD's pid.
in_b() { ip netns exec "$NS_B" "$@"; }
in_r() { ip netns exec "$NS_R" "$@"; }

# mqtt_prerequisites: everything this needs, or one FAIL line saying what is
# missing (scripts/setup installs it) and exit.
mqtt_prerequisites() {
    local t missing=
    for t in mosquitto mosquitto_sub mosquitto_pub mosquitto_ctrl openssl ip; do
        command -v "$t" >/dev/null || missing="$missing $t"
    done
    PLUGIN=$(dpkg -L mosquitto 2>/dev/null | grep 'mosquitto_dynamic_security.so$' | head -n1)
    [ -n "$PLUGIN" ] || missing="$missing mosquitto_dynamic_security.so"
    if [ -n "$missing" ]; then
        fail "$(basename "$0" .sh)-prerequisites" "missing:$missing (scripts/setup installs mosquitto, mosquitto-clients, openssl)"
        exit 1
    fi
    [ "$(id -u)" = 0 ] || { fail "$(basename "$0" .sh)-prerequisites" "needs root (network namespaces)"; exit 1; }
}

# mqtt_certs NAME...: a CA, the broker's certificate (for BROKER_IP,
# localhost, 127.0.0.1) and one client certificate per NAME (CN = NAME);
# `rogue` is another CA, trusted by nobody.
mqtt_certs() {
    mkdir -p "$TLS"
    local ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    for ca in ca rogue; do
        openssl req -x509 $ec -keyout "$TLS/$ca.key" -out "$TLS/$ca.pem" -days 2 -subj "/CN=upd test $ca" 2>/dev/null
    done
    openssl req $ec -keyout "$TLS/broker.key" -out "$TLS/broker.csr" -subj /CN=broker 2>/dev/null
    printf 'subjectAltName=IP:%s,DNS:localhost,IP:127.0.0.1\n' "$BROKER_IP" > "$TLS/ext"
    openssl x509 -req -in "$TLS/broker.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
        -out "$TLS/broker.pem" -days 2 -extfile "$TLS/ext" 2>/dev/null
    for n in "$@"; do
        openssl req $ec -keyout "$TLS/$n.key" -out "$TLS/$n.csr" -subj "/CN=$n" 2>/dev/null
        openssl x509 -req -in "$TLS/$n.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
            -out "$TLS/$n.pem" -days 2 2>/dev/null
    done
    [ -s "$TLS/broker.pem" ]
}

# mqtt_netns: the two namespaces and the veth pair between them.
mqtt_netns() {
    ip netns add "$NS_B" && ip netns add "$NS_R" || return 1
    ip link add "$VETH_B" type veth peer name "$VETH_R" || return 1
    ip link set "$VETH_B" netns "$NS_B" && ip link set "$VETH_R" netns "$NS_R" || return 1
    in_b ip addr add "$BROKER_IP/24" dev "$VETH_B" && in_b ip link set "$VETH_B" up && in_b ip link set lo up
    in_r ip addr add "$ROUTER_IP/24" dev "$VETH_R" && in_r ip link set "$VETH_R" up && in_r ip link set lo up
}

# The link between routers and broker: down drops everything, as a cut cable.
mqtt_cut() { in_r ip link set "$VETH_R" down; }
mqtt_mend() { in_r ip link set "$VETH_R" up; }

# mqtt_broker_config: docs/mqtt-broker/mosquitto.conf with this run's paths
# and ports (CERT_PORT, PASS_PORT), run as root (the files are in $T).
mqtt_broker_config() {
    CERT_PORT=8883 PASS_PORT=8884  # in the broker's own namespace: no clash
    mkdir -p "$T/data"
    sed -e "s#/etc/mosquitto/upd/#$TLS/#" -e "s#/var/lib/mosquitto/#$T/data/#" \
        -e "s#^plugin /.*#plugin $PLUGIN#" "$EXAMPLE/mosquitto.conf" > "$T/mosquitto.conf"
    printf 'user root\nlog_dest file %s\nlog_type all\n' "$T/mosquitto.log" >> "$T/mosquitto.conf"
    grep -q "^listener $CERT_PORT" "$T/mosquitto.conf" && grep -q "^listener $PASS_PORT" "$T/mosquitto.conf"
}

mqtt_broker_start() {
    ip netns exec "$NS_B" mosquitto -c "$T/mosquitto.conf" >>"$T/mosquitto.out" 2>&1 &
    BROKER_PID=$!
    # ready once it answers a subscription
    wait_for 10 in_b mosquitto_sub -h 127.0.0.1 -p "$CERT_PORT" --cafile "$TLS/ca.pem" \
        --cert "$TLS/operator.pem" --key "$TLS/operator.key" -t upd-fleet/probe -W 1 -E
}

mqtt_broker_stop() {
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID"
    wait_for 5 gone "$BROKER_PID" || kill -KILL "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null
    BROKER_PID=
    : > "$T/mosquitto.log"
}

# mqtt_acl: the plugin's file with admin, then the operator and routers
# (fleet-acl, as docs/mqtt.md says), against the running broker.
mqtt_acl_init() {
    "$EXAMPLE/fleet-acl" init "$T/data/dynamic-security.json" adminpw
}
mqtt_acl() {
    MOSQUITTO_CTRL_OPTS="-h 127.0.0.1 -p $PASS_PORT --cafile $TLS/ca.pem -u admin -P adminpw" \
        in_b "$EXAMPLE/fleet-acl" "$@"
}

# As the operator (certificate CN=operator), in the broker's namespace:
# op_sub ARGS...: mosquitto_sub; op_pub ARGS...: mosquitto_pub.
op_sub() { in_b mosquitto_sub -h localhost -p "$CERT_PORT" --cafile "$TLS/ca.pem" \
               --cert "$TLS/operator.pem" --key "$TLS/operator.key" "$@"; }
op_sub_bg() { ip netns exec "$NS_B" mosquitto_sub -h localhost -p "$CERT_PORT" --cafile "$TLS/ca.pem" \
                  --cert "$TLS/operator.pem" --key "$TLS/operator.key" "$@" & }
op_pub() { in_b mosquitto_pub -h localhost -p "$CERT_PORT" --cafile "$TLS/ca.pem" \
               --cert "$TLS/operator.pem" --key "$TLS/operator.key" "$@"; }
fleet() { in_b "$UPSCRIPT" upd fleet "$@" --broker "mqtts://localhost:$CERT_PORT" --ca "$TLS/ca.pem" \
              --cert "$TLS/operator.pem" --key "$TLS/operator.key"; }

# retained FILTER: the retained messages under FILTER now, `topic payload`
# lines, sorted (a fresh subscriber gets exactly those).
retained() { op_sub -t "$1" -v --retained-only -W 1 2>/dev/null | sort; }
retained_is() { [ "$(retained "$1")" = "$2" ]; }
retained_has() { retained "$1" | grep -qxF "$2"; }
