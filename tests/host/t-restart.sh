# A crashing script is restarted with growing delays (1 s, 2 s, 4 s ...),
# and the supervisor publishes backoff, restarts and last-exit.
. "$(dirname "$0")/lib.sh"
start_supervisor "[{:name \"crash\" :script \"$SCRIPTS/crash.fnl\" :args [\"$T/starts\"]}]" \
    || { fail restart-start "supervisor did not publish upd"; exit 1; }
if wait_for 12 sh -c "[ \$(wc -l < '$T/starts') -ge 4 ]"; then
    gaps=$(awk 'NR > 1 { printf "%.1f ", $1 - prev } { prev = $1 }' "$T/starts")
    # expected about 1 2 4: each gap at least the doubled delay, plus the time
    # the script takes to start and fail (up to ~1.5 s on a loaded machine)
    if awk -v g="$gaps" -v slack="$((SLOW * 1))" 'BEGIN { n = split(g, a, " "); want = 1
            for (i = 1; i <= 3 && i <= n; i++) { if (a[i] < 0.95 * want || a[i] > want + 1.5 * slack) exit 1; want *= 2 }
            exit 0 }'; then
        pass "restart-growing-delays ($gaps)"
    else
        fail restart-growing-delays "gaps between starts were $gaps, wanted about 1 2 4"
    fi
else
    fail restart-growing-delays "fewer than 4 starts in $((12 * SLOW)) s: $(cat "$T/starts" 2>/dev/null | tr '\n' ' ')"
fi
le=$(upd get upd/services/crash/last-exit 2>&1)
[ "$le" = "exit 1" ] && pass restart-last-exit || fail restart-last-exit "last-exit is '$le'"
r=$(upd get upd/services/crash/restarts 2>&1)
[ "${r:-0}" -ge 3 ] 2>/dev/null && pass restart-count || fail restart-count "restarts is '$r'"
