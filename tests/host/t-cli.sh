# The console tool: every command and its error cases, against a running
# supervisor (and without one).
. "$(dirname "$0")/lib.sh"
S=$SCRIPTS/sleeper.fnl

# check NAME EXPECTED-RC EXPECTED-OUTPUT-PATTERN COMMAND...: runs `upd COMMAND`,
# compares the exit code and greps the combined output (a basic regex).
check() {
    local name=$1 want_rc=$2 pattern=$3; shift 3
    out=$(upd "$@" 2>&1); rc=$?
    if [ "$rc" = "$want_rc" ] && printf '%s\n' "$out" | grep -q -- "$pattern"; then
        pass "$name"
    else
        fail "$name" "upd $* -> rc $rc, output: $(printf '%s' "$out" | head -5)"
    fi
}

check cli-stop-no-supervisor 1 '^upd: stop: no supervisor is running' stop a
check cli-status-no-supervisor 1 '^upd: status: no supervisor is running' status
check cli-help 0 '^Usage: upd' help
check cli-no-command 1 'no supervisor is running and nothing is published' 
check cli-unknown-command 2 'unknown command frob' frob

start_supervisor "[{:name \"a\" :script \"$S\"} {:name \"b\" :script \"$S\"}]" \
    || { fail cli-start "supervisor did not publish upd"; exit 1; }
wait_for 5 state_is a ready && wait_for 5 state_is b ready || fail cli-start "not ready"

check cli-status 0 '^a  *ready  *[0-9][0-9smh]* *0 [0-9][0-9]*  *-$' status
out=$(upd status); w=$(printf '%s\n' "$out" | awk '{ if (length($0) > m) m = length($0) } END { print m }')
[ "$w" -le 80 ] && pass cli-status-80-columns || fail cli-status-80-columns "width $w"
check cli-status-json 0 '"a":{.*"state":"ready"' status --json
check cli-show 0 '^up yes$' show a
check cli-show-path 0 '^ready$' show upd services/a/state
check cli-show-nested 0 '^  a$' show upd
check cli-show-absent 1 '^upd: show: nosuch: not found' show nosuch
check cli-show-json 0 '^{.*"up":"yes"' show --json a
check cli-get 0 '^yes$' get a/up
check cli-get-absent 1 '^upd: get: a/nope: not found' get a/nope
check cli-get-dir 1 'is a directory' get upd/services
check cli-get-usage 2 'usage: upd get' get a
check cli-get-json 0 '^"yes"$' get --json a/up

check cli-set 0 '' set a/extra/key hello
check cli-set-readback 0 '^hello$' get a/extra/key
check cli-set-keeps-others 0 '^yes$' get a/up
check cli-set-conflict 1 'a/up is a value' set a/up/x 1
check cli-set-bad-key 1 'invalid key' set 'a/b c' 1

out=$(printf 'x=1\nlist/1/name=one\nlist/2/name=two\n' | upd publish pub 2>&1); rc=$?
[ $rc = 0 ] && [ "$(upd get pub/list/2/name)" = two ] && pass cli-publish || fail cli-publish "rc $rc $out"
out=$(printf 'y=1\nbad line\n' | upd publish pub 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "upd: publish: stdin:2: expected path=value" ] && [ "$(upd get pub/x)" = 1 ] \
    && pass cli-publish-bad-line || fail cli-publish-bad-line "rc $rc $out"

check cli-withdraw 0 '' withdraw pub
! test -e "$UPD_ROOT/pub" && pass cli-withdrawn || fail cli-withdrawn "$UPD_ROOT/pub still there"
check cli-withdraw-absent 1 '^upd: withdraw: pub: not found' withdraw pub

"$UPSCRIPT" upd watch a > "$T/watch" 2>&1 &
EXTRA_PIDS="$EXTRA_PIDS $!"
sleep 0.5
upd set a/extra/key changed
wait_for 3 grep -q '^[0-9][0-9]:[0-9][0-9]:[0-9][0-9] a extra/key changed$' "$T/watch" \
    && pass cli-watch || fail cli-watch "watch printed: $(cat "$T/watch")"
"$UPSCRIPT" upd watch > "$T/watch-all" 2>&1 &
EXTRA_PIDS="$EXTRA_PIDS $!"
sleep 0.5
printf 'z=1\n' | upd publish newcomer
wait_for 4 grep -q ' newcomer z 1$' "$T/watch-all" \
    && pass cli-watch-all-new-service || fail cli-watch-all-new-service "$(tail -5 "$T/watch-all")"

check cli-stop 0 '' stop a
wait_for 5 state_is a stopped && ! test -e "$UPD_ROOT/a" && pass cli-stopped-stays \
    || fail cli-stopped-stays "state $(upd get upd/services/a/state 2>&1)"
sleep 2; state_is a stopped && pass cli-stopped-not-restarted || fail cli-stopped-not-restarted "restarted"
check cli-start 0 '' start a
wait_for 5 state_is a ready && pass cli-started || fail cli-started "state $(upd get upd/services/a/state 2>&1)"
pb=$(service_pid b)
check cli-restart 0 '' restart b
if wait_for 5 sh -c "[ \"\$('$UPSCRIPT' upd get upd/services/b/pid 2>/dev/null)\" != '$pb' ]" && wait_for 5 state_is b ready; then
    pass cli-restarted-new-pid
else
    fail cli-restarted-new-pid "pid $(service_pid b) was $pb"
fi
check cli-control-unknown 1 '^upd: restart: zz: no such service' restart zz
check cli-control-usage 2 'usage: upd stop NAME' stop
