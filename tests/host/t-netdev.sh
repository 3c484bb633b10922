# netdev against a real interface: a veth pair in a network namespace of our
# own, the supervisor running inside it. Carrier, address and counters must be
# published as the kernel reports them.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "SKIP netdev-veth: needs root and iproute2 (ip netns)"
    exit 0
fi
NS=updnd-$$
if ! ip netns add "$NS" 2>/dev/null; then
    echo "SKIP netdev-veth: ip netns add failed (no network namespaces here)"
    exit 0
fi
trap 'cleanup; ip netns del "$NS" 2>/dev/null' EXIT
ip -n "$NS" link add vA type veth peer name vB

printf '%s\n' '[{:name "vA" :script "netdev" :args ["vA" "--counters" "1"]}]' > "$T/services.fnl"
ip netns exec "$NS" "$UPSCRIPT" upd run --config "$T/services.fnl" >"$T/upd.out" 2>&1 &
SUP_PID=$!

get() { upd get "vA/$1" 2>/dev/null; }
is() { [ "$(get "$1")" = "$2" ]; }

if wait_for 10 is carrier no; then pass netdev-published-down; else fail netdev-published-down "carrier=$(get carrier) state=$(get state)"; fi

ip -n "$NS" link set vB up
ip -n "$NS" link set vA up
if wait_for 3 is carrier yes; then pass netdev-carrier-up; else fail netdev-carrier-up "carrier=$(get carrier)"; fi
if is promiscuous no && [ -n "$(get mtu)" ] && get mac | grep -Eq '^([0-9a-f]{2}:){5}[0-9a-f]{2}$'; then
    pass netdev-link-fields
else
    fail netdev-link-fields "mtu=$(get mtu) mac=$(get mac) promiscuous=$(get promiscuous)"
fi

ip -n "$NS" addr add 10.9.8.1/24 dev vA
has_addr() { upd show vA addresses 2>/dev/null | grep -q '10.9.8.1'; }
if wait_for 3 has_addr; then pass netdev-address-added; else fail netdev-address-added "$(upd show vA addresses 2>&1)"; fi
ip -n "$NS" addr del 10.9.8.1/24 dev vA
if wait_for 3 sh -c "! $UPSCRIPT upd show vA addresses 2>/dev/null | grep -q 10.9.8.1"; then
    pass netdev-address-removed
else
    fail netdev-address-removed "$(upd show vA addresses 2>&1)"
fi

ip netns exec "$NS" ping -c 2 -i 0.2 -W 1 10.9.8.2 >/dev/null 2>&1
tx_counted() { [ "$(get packets/tx)" -gt 0 ] 2>/dev/null; }
if wait_for 4 tx_counted; then pass netdev-counters; else fail netdev-counters "packets/tx=$(get packets/tx)"; fi

ip -n "$NS" link set vB down
if wait_for 2 is carrier no; then pass netdev-carrier-lost; else fail netdev-carrier-lost "carrier=$(get carrier)"; fi
