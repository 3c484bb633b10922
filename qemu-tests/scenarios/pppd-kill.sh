# pppd-kill: pppd killed with SIGKILL is restarted after a backoff of 1 s; a
# pppd killed again before its link came up waits twice as long (2 s); once a
# link has come up, the next kill waits 1 s again (the backoff was reset).
# needs: upscript
# timeout: 180

# kill_pppd_wait_backoff: kills the client pppd, waits for pppoe/state = backoff,
# sets BACKOFF to the published delay and NEW_PPPD once another pppd runs.
kill_pppd_wait_backoff() {
  _old=$(client_pppd) || fail "no client pppd to kill"
  kill -9 "$_old"
  wait_for 3 "pppoe/state = backoff after SIGKILL of pppd $_old" is pppoe/state backoff
  BACKOFF=$(val pppoe/backoff)
  _t0=$(now_ms)
  wait_for 70 "a new pppd after the backoff" '[ -n "$(client_pppd)" ] && [ "$(client_pppd)" != "$_old" ]'
  NEW_PPPD=$(client_pppd)
  RESTART_MS=$(( $(now_ms) - _t0 ))
}

upd_up
kill_pppd_wait_backoff
info "1st kill (link was up): backoff $BACKOFF s, new pppd after $RESTART_MS ms"
[ "$BACKOFF" = 1 ] || fail "first backoff is '$BACKOFF', expected 1"
[ "$RESTART_MS" -ge 700 ] || fail "pppd restarted after $RESTART_MS ms, before its 1 s backoff"
is pppoe/state up && fail "pppoe/state is up again before ppp0 came up"

# Killed while still negotiating: the delay doubles.
kill_pppd_wait_backoff
info "2nd kill (link not up yet): backoff $BACKOFF s, new pppd after $RESTART_MS ms"
[ "$BACKOFF" = 2 ] || fail "second backoff is '$BACKOFF', expected 2 (no link came up in between)"
[ "$RESTART_MS" -ge 1700 ] || fail "pppd restarted after $RESTART_MS ms, before its 2 s backoff"

wait_for 40 "pppoe/state = up after the restarts" is pppoe/state up
wait_for 5 "pppoe's addresses = ppp0's" pppoe_matches_ppp0
kill_pppd_wait_backoff
info "3rd kill (link was up again): backoff $BACKOFF s"
[ "$BACKOFF" = 1 ] || fail "backoff after a good link is '$BACKOFF', expected 1 (not reset)"
wait_for 40 "pppoe/state = up at the end" is pppoe/state up
pass
