# A double-forking daemon started by a script is reaped: no zombie stays,
# neither under the script nor under the supervisor once the script left it.
. "$(dirname "$0")/lib.sh"
start_supervisor "[{:name \"daemon\" :script \"$SCRIPTS/daemon.fnl\"} {:name \"leaver\" :script \"$SCRIPTS/daemon.fnl\" :args [\"leave\"]}]" \
    || { fail daemon-start "supervisor did not publish upd"; exit 1; }
wait_for 5 state_is daemon ready || fail daemon-start "daemon not ready"
sleep 3
dpid=$(service_pid daemon)
zombies() {
    for st in /proc/[0-9]*/stat; do
        awk -v sup="$SUP_PID" -v d="$dpid" \
            '{ sub(/^.*\) /, ""); if ($1 == "Z" && ($2 == sup || $2 == d)) print FILENAME }' "$st" 2>/dev/null
    done
}
z=$(zombies)
[ -z "$z" ] && pass daemon-no-zombie || fail daemon-no-zombie "zombies: $z"
kill -0 "$SUP_PID" && pass daemon-supervisor-alive || fail daemon-supervisor-alive "supervisor died"
