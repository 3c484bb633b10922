# memory: after boot with PPPoE up, the memory of every upscript process
# (VmRSS, RssAnon, Pss from /proc) and of the guest (free); a PASS once printed.
# needs: upscript
# timeout: 120

upd_up
usleep 2000000
info "$(printf '%-6s %-40s %8s %8s %8s' PID COMMAND VmRSS RssAnon Pss)"
n=0 total=0
for p in $(upscript_pids); do
  cmd=$(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-40)
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$p/status)
  anon=$(awk '/^RssAnon/ {print $2}' /proc/$p/status)
  pss=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null)
  info "$(printf '%-6s %-40s %6s kB %6s kB %6s kB' "$p" "$cmd" "$rss" "$anon" "${pss:-?}")"
  n=$((n + 1)); total=$((total + ${pss:-0}))
done
[ "$n" -ge 3 ] || fail "expected the supervisor and two service scripts, found $n upscript processes"
info "$n upscript processes, Pss total $total kB; binary $(wc -c < /bin/upscript) bytes"
free | while read -r l; do info "free: $l"; done
pass "$n processes, Pss $total kB"
