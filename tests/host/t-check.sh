# `upd check` and `upd run` reject a bad services file with FILE:LINE: message.
. "$(dirname "$0")/lib.sh"
printf '[{:name "a" :script "%s"}\n {:name "a" :script "%s"}]\n' "$SCRIPTS/sleeper.fnl" "$SCRIPTS/sleeper.fnl" > "$T/dup.fnl"
out=$(upd check --config "$T/dup.fnl" 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "upd: check: $T/dup.fnl:2: duplicate :name a (first at line 1)" ] \
    && pass check-duplicate || fail check-duplicate "rc $rc: $out"
printf '[{:name "a" :script "nosuchmodule"}]\n' > "$T/unknown.fnl"
out=$(upd check --config "$T/unknown.fnl" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "unknown.fnl:1: unknown script nosuchmodule" \
    && pass check-unknown-script || fail check-unknown-script "rc $rc: $out"
printf '[{:name "a"\n' > "$T/syntax.fnl"
out=$(upd run --config "$T/syntax.fnl" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "^upd: run: $T/syntax.fnl:[0-9]*:" \
    && pass run-rejects-bad-file || fail run-rejects-bad-file "rc $rc: $out"
printf '[{:name "a" :script "%s"}]\n' "$SCRIPTS/sleeper.fnl" > "$T/good.fnl"
out=$(upd check --config "$T/good.fnl" 2>&1); rc=$?
[ $rc = 0 ] && [ "$out" = "$T/good.fnl: 1 services" ] && pass check-good || fail check-good "rc $rc: $out"
out=$(upd check --config "$T/none.fnl" 2>&1); rc=$?
[ $rc = 1 ] && pass check-missing-file || fail check-missing-file "rc $rc: $out"
