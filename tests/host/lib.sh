# Shared helpers for the host integration tests (sourced by each t-*.sh).
# Each test runs in a fresh temporary directory $T with UPD_ROOT=$T/root and
# reports with `pass NAME` / `fail NAME WHY` (one line each).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
UPSCRIPT=${UPSCRIPT:-$HERE/../../target/debug/upscript}
case $UPSCRIPT in /*) ;; *) UPSCRIPT=$(pwd)/$UPSCRIPT ;; esac
SCRIPTS=$HERE/scripts
T=$(mktemp -d /tmp/upd-host.XXXXXX)
export UPD_ROOT=$T/root
mkdir -p "$UPD_ROOT"
SUP_PID=

upd() { "$UPSCRIPT" upd "$@"; }
pass() { echo "PASS $1"; }
FAILED=
fail() { echo "FAIL $1: $2"; FAILED=1; }

# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false on timeout.
# The limits are multiplied by UPD_TEST_SLOW (default 2): on a loaded machine a
# script's start (compiling its Fennel) alone can take more than a second.
SLOW=${UPD_TEST_SLOW:-2}
wait_for() {
    local limit=$1; shift
    local i=0
    while [ "$i" -lt $((limit * 10 * SLOW)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# state_is NAME STATE: the supervisor publishes STATE for NAME.
state_is() { [ "$(upd get "upd/services/$1/state" 2>/dev/null)" = "$2" ]; }
service_pid() { upd get "upd/services/$1/pid" 2>/dev/null; }

# start_supervisor CONFIG-TEXT: writes $T/services.fnl and runs `upd run` on it.
start_supervisor() {
    printf '%s\n' "$1" > "$T/services.fnl"
    "$UPSCRIPT" upd run --config "$T/services.fnl" >"$T/upd.out" 2>&1 &
    SUP_PID=$!
    wait_for 5 test -e "$UPD_ROOT/upd"
}

# gone PID: the process has exited (a zombie counts as exited).
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

cleanup() {
    for p in $EXTRA_PIDS; do
        kill "$p" 2>/dev/null
        wait_for 3 gone "$p" || kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "$SUP_PID" ]; then
        kill -TERM "$SUP_PID" 2>/dev/null
        wait_for 8 gone "$SUP_PID" || kill -KILL "$SUP_PID" 2>/dev/null
        wait "$SUP_PID" 2>/dev/null
    fi
    if [ -n "$FAILED" ] && [ -s "$T/upd.out" ]; then
        keep=${TMPDIR:-/tmp}/upd-host-$(basename "$0" .sh).log
        cp "$T/upd.out" "$keep" && echo "  (supervisor log kept in $keep)"
    fi
    rm -rf "$T"
    if [ -e "$T" ]; then
        sleep 1
        echo "  (something still wrote into $T after the test: $(find "$T" | tr '\n' ' '))"
        rm -rf "$T"
    fi
}
EXTRA_PIDS=
trap cleanup EXIT

if [ ! -x "$UPSCRIPT" ]; then
    echo "FAIL $(basename "$0"): no binary at $UPSCRIPT (build it or set UPSCRIPT)"
    exit 1
fi
