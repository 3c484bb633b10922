# The compile cache of `upscript FILE.fnl` (fennel/upd/compile-cache.fnl):
# hit after the first run, never stale (source, macro file), corrupt entries
# replaced, unsafe directories refused with the script still running, the
# size bound, and `upd run`'s services using it (default place).
. "$(dirname "$0")/lib.sh"
C=$T/cache
W=$T/work
mkdir -p "$W"
cd "$W" || exit 1
run() { UPD_FNL_CACHE=$C "$UPSCRIPT" "$@"; }
entries() { ls "$C" 2>/dev/null | grep -c '^slot-'; }
inode() { stat -c '%i %Y' "$C"/slot-* 2>/dev/null | tr '\n' ' '; }

echo '(print "one" ...)' > p.fnl
out1=$(run p.fnl a 2>&1); i1=$(inode)
out2=$(run p.fnl b 2>&1); i2=$(inode)
[ "$out1" = "one	a" ] && [ "$out2" = "one	b" ] && [ "$(entries)" = 1 ] && [ -n "$i1" ] && [ "$i1" = "$i2" ] \
    && [ "$(stat -c %a "$C")" = 700 ] \
    && pass fnl-cache-hit || fail fnl-cache-hit "out '$out1' '$out2' entries $(entries) inodes '$i1' '$i2'"

# A hit runs the stored Lua: an entry whose Lua says something else (same
# key and source) is what runs, which shows the second run did not compile.
f=$(ls "$C"/slot-*)
cat > "$T/edit.lua" <<'EOF'
local f = io.open(arg[1], "rb"); local s = f:read("*a"); f:close()
local old = " return print(\"one\", ...)"
local i = s:find(old, 1, true); assert(i, "compiled Lua not found in the entry")
local new = " return print(\"CACHED\", ...)"
s = s:sub(1, i - 1):gsub("(%d+)\n$", function(n) return (n + #new - #old) .. "\n" end) .. new .. s:sub(i + #old)
f = io.open(arg[1], "wb"); f:write(s); f:close()
EOF
"$UPSCRIPT" "$T/edit.lua" "$f"
out=$(run p.fnl 2>&1)
[ "$out" = "CACHED" ] && pass fnl-cache-runs-entry || fail fnl-cache-runs-entry "out '$out'"

echo '(print "two")' > p.fnl
out=$(run p.fnl 2>&1); out2=$(run p.fnl 2>&1)
[ "$out" = two ] && [ "$out2" = two ] && [ "$(entries)" = 1 ] \
    && pass fnl-cache-source-change || fail fnl-cache-source-change "out '$out' '$out2' entries $(entries)"

# A macro module's change is seen (the entry records the files compiling read).
echo '{:v (fn [] 1)}' > m.fnl
echo '(import-macros {: v} :m) (print (v))' > q.fnl
a=$(run q.fnl 2>&1); b=$(run q.fnl 2>&1)
echo '{:v (fn [] 2)}' > m.fnl
c=$(run q.fnl 2>&1)
[ "$a" = 1 ] && [ "$b" = 1 ] && [ "$c" = 2 ] && pass fnl-cache-macro-change \
    || fail fnl-cache-macro-change "before '$a' '$b', after '$c'"

# Corrupt entries: garbage, and a truncated one.
for f in "$C"/slot-*; do printf 'garbage\n' > "$f"; done
out=$(run p.fnl 2>&1)
good=$(head -c 16 "$C"/slot-* | grep -c '^upd-fnl-cache 1 ')
for f in "$C"/slot-*; do head -c 40 "$f" > "$f.t" && mv "$f.t" "$f"; done
out2=$(run q.fnl 2>&1)
[ "$out" = two ] && [ "$good" -ge 1 ] && [ "$out2" = 2 ] && pass fnl-cache-corrupt-replaced \
    || fail fnl-cache-corrupt-replaced "out '$out' '$out2' rewritten $good"

# Unsafe directories: refused in one line, the script runs all the same.
mkdir -p "$T/open"; chmod 777 "$T/open"
out=$(UPD_FNL_CACHE=$T/open "$UPSCRIPT" p.fnl 2>"$T/err"); rc=$?
[ $rc = 0 ] && [ "$out" = two ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q "refused (group or others may write)" "$T/err" \
    && [ -z "$(ls "$T/open")" ] && pass fnl-cache-open-dir-refused \
    || fail fnl-cache-open-dir-refused "rc $rc out '$out' err '$(cat "$T/err")'"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$T/theirs"; chmod 700 "$T/theirs"; chown 65534 "$T/theirs"
    out=$(UPD_FNL_CACHE=$T/theirs "$UPSCRIPT" p.fnl 2>"$T/err"); rc=$?
    [ $rc = 0 ] && [ "$out" = two ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q "refused (owned by uid 65534)" "$T/err" \
        && [ -z "$(ls "$T/theirs")" ] && pass fnl-cache-foreign-dir-refused \
        || fail fnl-cache-foreign-dir-refused "rc $rc out '$out' err '$(cat "$T/err")'"
else
    echo "SKIP fnl-cache-foreign-dir-refused: needs root (chown)"
fi
ln -s "$C" "$T/link"
out=$(UPD_FNL_CACHE=$T/link "$UPSCRIPT" p.fnl 2>"$T/err"); rc=$?
[ $rc = 0 ] && [ "$out" = two ] && grep -q "refused" "$T/err" && pass fnl-cache-symlink-refused \
    || fail fnl-cache-symlink-refused "rc $rc out '$out' err '$(cat "$T/err")'"

# The size bound: 12 scripts of about 1 KiB of entry each, a bound of 4 KiB.
rm -rf "$C"
pad=$(printf '%0900d' 0)
i=0
while [ $i -lt 12 ]; do
    printf '(local pad "%s")\n(print %d)\n' "$pad" $i > "s$i.fnl"
    UPD_FNL_CACHE_MAX=4096 run "s$i.fnl" >/dev/null 2>&1
    i=$((i + 1))
done
total=$(cat "$C"/slot-* | wc -c)
n=$(entries)
last=$(grep -l 'print 11' "$C"/slot-* 2>/dev/null | wc -l)
first=$(grep -l 'print 0)' "$C"/slot-* 2>/dev/null | wc -l)
[ "$total" -le 4096 ] && [ "$n" -ge 2 ] && [ "$n" -lt 12 ] && [ "$last" = 1 ] && [ "$first" = 0 ] \
    && pass fnl-cache-size-bound || fail fnl-cache-size-bound "total $total bytes in $n entries, last $last first $first"

# `upd run` starts a .fnl service through the cache, by default beside the
# state root ($T/root -> $T/upd-cache).
cp "$SCRIPTS/sleeper.fnl" "$W/sleeper.fnl"
start_supervisor "[{:name \"s\" :script \"$W/sleeper.fnl\"}]"
wait_for 10 state_is s ready
if [ "$(id -u)" = 0 ]; then
    wait_for 5 sh -c "grep -l sleeper.fnl '$T/upd-cache'/slot-*" && pass fnl-cache-upd-run-default-dir \
        || fail fnl-cache-upd-run-default-dir "no entry in $T/upd-cache: $(ls -la "$T/upd-cache" 2>&1)"
else
    echo "SKIP fnl-cache-upd-run-default-dir: the default cache is root's"
fi
