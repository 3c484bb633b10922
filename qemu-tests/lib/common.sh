# Shared by qemu-tests/run and qemu-tests/router (bash, sourced).
# Layers of the initramfs, concatenated (the kernel unpacks them in order):
#   base.cpio.gz     Debian packages (lib/build-base), built once and cached
#   upd.cpio.gz      /bin/upscript, /bin/upd, /usr/share/upd/*.fnl
#   overlay.cpio.gz  qemu-tests/image/ (init, /etc)
#   per run          /test/scenario and /test/name, for a scenario
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
qt=$repo/qemu-tests
out=${UPD_QEMU_BUILD:-$repo/build/qemu}
target_dir=${CARGO_TARGET_DIR:-$repo/target}
upscript=${UPD_MIPSEL_UPSCRIPT:-$target_dir/mipsel-unknown-linux-musl/release/upscript}

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# cpio_gz DIR FILE: a gzip'd newc archive of DIR's contents, owned by root.
cpio_gz() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 > "$2.tmp"
  mv "$2.tmp" "$2"
}

# The base is rebuilt when its key (build-base --key: the package list and
# build-base's own hash, written to base.key by each build) is not the cache's.
ensure_base() {
  if [ ! -f "$out/base.cpio.gz" ] || [ ! -f "$out/vmlinuz" ] \
     || [ "$(cat "$out/base.key" 2>/dev/null)" != "$("$qt/lib/build-base" --key)" ]; then
    say "building the base image (cached in ${out#$repo/})"
    "$qt/lib/build-base" "$out" || die "building the base image failed"
  fi
}

# ensure_upscript: sets UPSCRIPT_ERR (one line) when the mipsel binary is
# missing and cannot be built; builds it when missing (never rebuilds).
ensure_upscript() {
  UPSCRIPT_ERR=
  if [ -x "$upscript" ]; then
    local newer
    newer=$(find "$repo/fennel" "$repo/src" -newer "$upscript" \( -name '*.fnl' -o -name '*.rs' \) \
              -not -path '*/tests/*' 2>/dev/null | head -n1)
    say "upscript: ${upscript#$repo/} ($(stat -c %s "$upscript") bytes)${newer:+; older than ${newer#$repo/}: rebuild with scripts/build-mips mipsel}"
    return 0
  fi
  if [ -n "${UPD_NO_BUILD:-}" ]; then
    UPSCRIPT_ERR="no mipsel upscript at $upscript (UPD_NO_BUILD is set)"; return 1
  fi
  say "no mipsel upscript at ${upscript#$repo/}: cargo zigbuild --config .cargo/router.toml (log: ${out#$repo/}/cargo.log)"
  mkdir -p "$out"
  if ! (cd "$repo" && cargo zigbuild --config .cargo/router.toml -Zbuild-std=std,panic_abort --release \
          --target mipsel-unknown-linux-musl) >"$out/cargo.log" 2>&1; then
    UPSCRIPT_ERR="building the mipsel upscript failed: $(grep -m1 -E '^error' "$out/cargo.log" || tail -n1 "$out/cargo.log")"
    return 1
  fi
  [ -x "$upscript" ] || { UPSCRIPT_ERR="cargo succeeded but $upscript is missing"; return 1; }
}

# build_layers: upd.cpio.gz (when the binary exists) and overlay.cpio.gz.
build_layers() {
  local d
  d=$(mktemp -d)
  mkdir -p "$d/bin" "$d/usr/share/upd"
  if [ -x "$upscript" ]; then
    cp "$upscript" "$d/bin/upscript"
    ln -s upscript "$d/bin/upd"
  fi
  find "$repo/fennel" -maxdepth 1 -name '*.fnl' -exec cp {} "$d/usr/share/upd/" \;
  [ -d "$repo/fennel/upd" ] && cp -r "$repo/fennel/upd" "$d/usr/share/upd/"
  cpio_gz "$d" "$out/upd.cpio.gz"
  rm -rf "$d"
  cpio_gz "$qt/image" "$out/overlay.cpio.gz"
}

# initrd_for FILE [SCENARIO-FILE NAME]: the concatenated initramfs.
initrd_for() {
  local f=$1 d
  cat "$out/base.cpio.gz" "$out/upd.cpio.gz" "$out/overlay.cpio.gz" > "$f"
  if [ -n "${2:-}" ]; then
    d=$(mktemp -d)
    mkdir -p "$d/test"
    cp "$2" "$d/test/scenario"
    printf '%s\n' "$3" > "$d/test/name"
    cpio_gz "$d" "$d.cpio.gz"
    cat "$d.cpio.gz" >> "$f"
    rm -rf "$d" "$d.cpio.gz"
  fi
}

# header_of FILE KEY: the value of a `# KEY: value` line in a scenario.
header_of() { sed -n "s/^# $2: *//p" "$1" | head -n1; }
