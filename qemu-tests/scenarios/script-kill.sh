# script-kill: the pppoe service script (an upscript process) killed with
# SIGKILL: its tree is withdrawn, the supervisor restarts it (restarts counts
# it), the new instance brings PPPoE up again with a single pppd.
# needs: upscript
# timeout: 150

upd_up
spid=$(val upd/services/pppoe/pid)
[ -n "$spid" ] || fail "the supervisor publishes no upd/services/pppoe/pid"
restarts=$(val upd/services/pppoe/restarts)
old_pppd=$(client_pppd)

kill -9 "$spid"
wait_for 3 "pppoe's tree withdrawn" '[ ! -e /run/upd/pppoe ]'
info "tree withdrawn $WAITED_MS ms after SIGKILL"
wait_for 15 "a new pppoe script" '[ -n "$(val upd/services/pppoe/pid)" ] && [ "$(val upd/services/pppoe/pid)" != "$spid" ]'
info "new pppoe script (pid $(val upd/services/pppoe/pid)) $WAITED_MS ms later"
[ "$(val upd/services/pppoe/restarts)" = $((restarts + 1)) ] ||
  fail "upd/services/pppoe/restarts is $(val upd/services/pppoe/restarts), expected $((restarts + 1))"
wait_for 60 "pppoe/state = up again" is pppoe/state up
wait_for 5 "pppoe's addresses = ppp0's" pppoe_matches_ppp0
[ -d "/proc/$old_pppd" ] && [ -n "$old_pppd" ] && [ "$old_pppd" != "$(client_pppd)" ] &&
  fail "the killed script's pppd ($old_pppd) is still running next to the new one"
n=$(for p in $(pids_of pppd); do tr '\0' ' ' < /proc/$p/cmdline | grep -c eth0; done | grep -c 1)
[ "$n" = 1 ] || fail "$n client pppds run, expected 1"
pass
