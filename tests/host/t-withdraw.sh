# A killed script's tree disappears (a subscriber hears so); it is restarted
# with a new pid and publishes again.
. "$(dirname "$0")/lib.sh"
start_supervisor "[{:name \"sleeper\" :script \"$SCRIPTS/sleeper.fnl\"}]" \
    || { fail withdraw-start "supervisor did not publish upd"; exit 1; }
wait_for 5 state_is sleeper ready && pass withdraw-ready \
    || fail withdraw-ready "state is $(upd get upd/services/sleeper/state 2>&1)"
wait_for 5 test -e "$UPD_ROOT/sleeper/up" || fail withdraw-published "no $UPD_ROOT/sleeper/up"
"$UPSCRIPT" upd watch sleeper > "$T/watch" 2>&1 &
EXTRA_PIDS="$EXTRA_PIDS $!"
sleep 0.5
pid=$(service_pid sleeper)
kill -KILL "$pid"
if wait_for 3 sh -c "! test -e '$UPD_ROOT/sleeper/up'" ; then
    pass withdraw-tree-gone
elif grep -q 'gone' "$T/watch"; then
    pass "withdraw-tree-gone (already republished)"
else
    fail withdraw-tree-gone "the tree of the killed script stayed"
fi
wait_for 5 grep -q '(gone)' "$T/watch" && pass withdraw-subscriber-told \
    || fail withdraw-subscriber-told "watch printed: $(cat "$T/watch")"
last_exit_is() { [ "$(upd get "upd/services/$1/last-exit" 2>/dev/null)" = "$2" ]; }
wait_for 5 last_exit_is sleeper "signal 9" && pass withdraw-last-exit \
    || fail withdraw-last-exit "last-exit is '$(upd get upd/services/sleeper/last-exit 2>&1)'"
if wait_for 10 state_is sleeper ready && [ "$(service_pid sleeper)" != "$pid" ] \
        && test -e "$UPD_ROOT/sleeper/up"; then
    pass withdraw-restarted
else
    fail withdraw-restarted "pid $(service_pid sleeper) (was $pid); upd: $(upd show upd | tr '\n' ' ')"
fi
