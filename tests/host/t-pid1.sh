# upd run as PID 1 (in a PID namespace of its own): orphans re-parented to it
# are reaped, and SIGTERM stops the services but never ends PID 1.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    echo "SKIP pid1: needs root and unshare (util-linux) for a PID namespace"
    exit 0
fi
printf '%s\n' "[{:name \"leaver\" :script \"$SCRIPTS/daemon.fnl\" :args [\"leave\"]} {:name \"s\" :script \"$SCRIPTS/sleeper.fnl\"}]" > "$T/services.fnl"
unshare --pid --fork --mount-proc "$UPSCRIPT" upd run --config "$T/services.fnl" >"$T/upd.out" 2>&1 &
EXTRA_PIDS=$!
upd_pid() { pgrep -P "$EXTRA_PIDS" -f 'upd run' | head -1; }
wait_for 5 upd_pid || { fail pid1-start "no supervisor under unshare"; exit 1; }
P=$(upd_pid)
if grep -Eq '^NSpid:[[:space:]]+[0-9]+[[:space:]]+1$' "/proc/$P/status"; then
    pass pid1-is-pid-1
else
    fail pid1-is-pid-1 "$(grep NSpid "/proc/$P/status")"
fi
wait_for 5 state_is s ready || fail pid1-services "s not ready: $(upd status 2>&1)"
# The leaver's daemon (sleep 1) was orphaned to PID 1; once it exits it must be reaped.
sleep 3
zombies=$(for st in /proc/[0-9]*/stat; do
    awk -v p="$P" '{ sub(/^.*\) /, ""); if ($1 == "Z" && $2 == p) print FILENAME }' "$st" 2>/dev/null
done)
[ -z "$zombies" ] && pass pid1-orphans-reaped || fail pid1-orphans-reaped "zombies under PID 1: $zombies"
kill -TERM "$P"
if wait_for 8 sh -c "! pgrep -P $P -f sleeper.fnl >/dev/null"; then pass pid1-term-stops-services; else fail pid1-term-stops-services "services still running"; fi
sleep 1
if kill -0 "$P" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$P/stat")" != Z ]; then
    pass pid1-never-exits
else
    fail pid1-never-exits "PID 1 exited after SIGTERM"
fi
kill -KILL "$P" 2>/dev/null
