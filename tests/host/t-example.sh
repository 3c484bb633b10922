# The guide's example service (fennel/examples/follow.fnl, docs/writing-a-service.md)
# under `upd run`: it waits for the tree `wan-$$` to say `state up`, then runs
# `sleep`; when the daemon is killed it publishes backoff with the reason and
# starts it again; when wan goes down it stops the daemon.
. "$(dirname "$0")/lib.sh"
EX=$HERE/../../fennel/examples
WAN=wan-$$
got() { upd get "follow/$1" 2>/dev/null; }
is() { [ "$(got "$1")" = "$2" ]; }
start_supervisor "[{:name \"follow\" :script \"$EX/follow.fnl\" :args [\"$WAN\" \"--\" \"sleep\" \"1000\"]}]" \
    || { fail example-start "supervisor did not publish upd"; exit 1; }
wait_for 5 state_is follow ready && pass example-ready || fail example-ready "supervisor state $(upd get upd/services/follow/state 2>&1)"
wait_for 5 is state waiting && [ "$(got reason)" = "$WAN is not up" ] && [ -z "$(got pid)" ] \
    && pass example-waits || fail example-waits "state $(got state), reason $(got reason)"
printf 'state=up\n' | upd publish "$WAN"
wait_for 5 is state running && pid=$(got pid) && [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ] \
    && pass example-runs-daemon || fail example-runs-daemon "state $(got state), pid $(got pid)"
kill -KILL "${pid:-0}" 2>/dev/null
wait_for 3 is state backoff && [ "$(got reason)" = "exited (signal 9), again in 1 s" ] \
    && pass example-backoff-reason || fail example-backoff-reason "state $(got state), reason $(got reason)"
wait_for 5 is state running && pid2=$(got pid) && [ -n "$pid2" ] && [ "$pid2" != "$pid" ] \
    && pass example-restarts || fail example-restarts "state $(got state), pid $(got pid) (was $pid)"
upd set "$WAN/state" down
wait_for 5 is state waiting && wait_for 5 gone "${pid2:-0}" \
    && pass example-stops-on-down || fail example-stops-on-down "state $(got state), pid $pid2 alive"
out=$("$UPSCRIPT" "$EX/follow.fnl" wan 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "expected -- DAEMON" \
    && pass example-usage-error || fail example-usage-error "rc $rc: $out"
