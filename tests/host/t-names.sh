# One rule for names and keys (src/tree/key.rs, exported as upd.core's
# check-name and check-key): `upd check` refuses what the publisher refuses.
. "$(dirname "$0")/lib.sh"
for name in .eth0 control; do
    printf '[{:name "%s" :script "%s"}]\n' "$name" "$SCRIPTS/sleeper.fnl" > "$T/bad.fnl"
    out=$(upd check --config "$T/bad.fnl" 2>&1); rc=$?
    [ $rc = 1 ] && echo "$out" | grep -q "bad.fnl:1: bad service name \"$name\"" \
        && pass "check-refuses-name-$name" || fail "check-refuses-name-$name" "rc $rc: $out"
    out=$(echo "a=1" | upd publish "$name" 2>&1); rc=$?
    [ $rc = 1 ] && echo "$out" | grep -q "bad service name \"$name\"" \
        && pass "publish-refuses-name-$name" || fail "publish-refuses-name-$name" "rc $rc: $out"
done
out=$(printf 'a b=1\n' | upd publish x 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = 'upd: publish: stdin:1: invalid key "a b"' ] && [ ! -e "$UPD_ROOT/x" ] \
    && pass publish-refuses-key || fail publish-refuses-key "rc $rc: $out"
printf '[{:name "eth0.v2" :script "%s"}]\n' "$SCRIPTS/sleeper.fnl" > "$T/good.fnl"
out=$(upd check --config "$T/good.fnl" 2>&1); rc=$?
[ $rc = 0 ] && pass check-accepts-dotted-name || fail check-accepts-dotted-name "rc $rc: $out"
