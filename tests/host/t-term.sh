# SIGTERM stops every service (KILL after the stop timeout for one that
# ignores TERM) and the supervisor exits 0 with nothing left running.
. "$(dirname "$0")/lib.sh"
S=$SCRIPTS/sleeper.fnl
start_supervisor "[{:name \"a\" :script \"$S\"} {:name \"stubborn\" :script \"$S\" :args [\"ignore-term\"] :stop-timeout 1}
 {:name \"crash\" :script \"$SCRIPTS/crash.fnl\" :args [\"$T/starts\"]}]" \
    || { fail term-start "supervisor did not publish upd"; exit 1; }
wait_for 5 state_is a ready && wait_for 5 state_is stubborn ready || fail term-start "services not ready"
pa=$(service_pid a) ps=$(service_pid stubborn)
kill -TERM "$SUP_PID"
if wait_for 6 gone "$SUP_PID"; then
    wait "$SUP_PID"; rc=$?
    [ "$rc" = 0 ] && pass term-exit-0 || fail term-exit-0 "exit status $rc"
else
    fail term-exit-0 "still running 6 s after SIGTERM"
fi
if wait_for 2 gone "$pa" && wait_for 2 gone "$ps"; then
    pass term-nothing-left
else
    fail term-nothing-left "left running: $(for p in $pa $ps; do gone $p || echo $p; done)"
fi
# processes started for a service carry UPD_SERVICE and our UPD_ROOT
left=0
for e in /proc/[0-9]*/environ; do
    env=$(tr '\0' '\n' < "$e" 2>/dev/null) || continue
    printf '%s\n' "$env" | grep -qx "UPD_ROOT=$UPD_ROOT" && printf '%s\n' "$env" | grep -q '^UPD_SERVICE=' \
        && left=$((left + 1))
done
[ "$left" -eq 0 ] && pass term-no-process-with-our-root || fail term-no-process-with-our-root "$left processes"
! test -e "$UPD_ROOT/upd" && ! test -e "$UPD_ROOT/a" && pass term-trees-withdrawn \
    || fail term-trees-withdrawn "$(ls "$UPD_ROOT")"
