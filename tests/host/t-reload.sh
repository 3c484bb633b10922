# SIGHUP reload: new services start, removed ones stop, changed ones restart,
# unchanged ones keep their pid; a bad file keeps the current set.
. "$(dirname "$0")/lib.sh"
S=$SCRIPTS/sleeper.fnl
start_supervisor "[{:name \"a\" :script \"$S\"} {:name \"b\" :script \"$S\"} {:name \"c\" :script \"$S\"}]" \
    || { fail reload-start "supervisor did not publish upd"; exit 1; }
for n in a b c; do wait_for 5 state_is $n ready || fail reload-start "$n not ready"; done
pa=$(service_pid a) pb=$(service_pid b) pc=$(service_pid c)
printf '%s\n' "[{:name \"b\" :script \"$S\"} {:name \"c\" :script \"$S\" :args [\"x\"]} {:name \"d\" :script \"$S\"}]" > "$T/services.fnl"
kill -HUP "$SUP_PID"
wait_for 5 state_is d ready && pass reload-adds || fail reload-adds "d is $(upd get upd/services/d/state 2>&1)"
unlisted() { ! upd get "upd/services/$1/state" >/dev/null 2>&1; }
if wait_for 5 unlisted a \
        && gone "$pa" && ! test -e "$UPD_ROOT/a"; then
    pass reload-removes
else
    fail reload-removes "a: $(upd get upd/services/a/state 2>&1), pid $pa alive? $(kill -0 "$pa" 2>&1 && echo yes)"
fi
[ "$(service_pid b)" = "$pb" ] && pass reload-keeps-unchanged || fail reload-keeps-unchanged "b's pid changed"
if wait_for 5 state_is c ready && [ "$(service_pid c)" != "$pc" ]; then
    pass reload-restarts-changed
else
    fail reload-restarts-changed "c pid $(service_pid c) (was $pc)"
fi
printf '[{:name "b" :script "%s"}\n {:name 3}]\n' "$S" > "$T/services.fnl"
kill -HUP "$SUP_PID"
sleep 1
if kill -0 "$SUP_PID" && state_is d ready && grep -q "services.fnl:2: :name must be a string" "$T/upd.out"; then
    pass reload-bad-file-kept
elif kill -0 "$SUP_PID" && state_is d ready && test -S /dev/log; then
    pass "reload-bad-file-kept (log line not checked: upd.log writes to /dev/log here)"
else
    fail reload-bad-file-kept "log: $(tail -3 "$T/upd.out")"
fi
