# Shared by qemu-tests/run and qemu-tests/router (bash, sourced).
# Layers of the initramfs, concatenated (the kernel unpacks them in order):
#   base.cpio.gz     Debian packages (lib/build-base), built once and cached
#                    in ~/.cache/upd/qemu/base-KEY/ with the kernel
#   upd.cpio.gz      /bin/upscript, /bin/upd, /usr/share/upd/*.fnl (and a
#                    real odhcp6c when ODHCP6C=path is given)
#   overlay.cpio.gz  qemu-tests/image/ (init, /etc)
#   per run          /test/scenario and /test/name, for a scenario
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
qt=$repo/qemu-tests
# Logs and per-run layers stay in the work tree; what is downloaded and
# built from Debian's packages is shared by every work tree and run.
out=${UPD_QEMU_BUILD:-$repo/build/qemu}
cache=${UPD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/upd}/qemu
base=$cache/base-$("$qt/lib/build-base" --key)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
upscript=${UPD_MIPSEL_UPSCRIPT:-$target_dir/mipsel-unknown-linux-musl/release/upscript}

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# cpio_gz DIR FILE: a gzip'd newc archive of DIR's contents, owned by root.
cpio_gz() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 > "$2.tmp"
  mv "$2.tmp" "$2"
}

# The base is built once per key (build-base --key, its own hash: another
# package list is another directory), under a lock: runs in other work trees
# may build or read the same cache at the same time. Bases unused for 30
# days are removed.
ensure_base() {
  mkdir -p "$cache"
  if [ ! -f "$base/base.cpio.gz" ]; then
    (
      flock 9
      if [ ! -f "$base/base.cpio.gz" ]; then
        say "building the base image (cached in $base)"
        "$qt/lib/build-base" "$cache" "$base" >&2 || exit 1
      fi
    ) 9>"$cache/lock" || die "building the base image failed"
  fi
  touch "$base"
  find "$cache" -maxdepth 1 -name 'base-*' -mtime +30 -exec rm -rf {} + 2>/dev/null || true
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
  say "no mipsel upscript at ${upscript#$repo/}: cargo +nightly zigbuild (log: ${out#$repo/}/cargo.log)"
  mkdir -p "$out"
  if ! (cd "$repo" && cargo +nightly zigbuild -Zbuild-std=std,panic_abort --release \
          --target mipsel-unknown-linux-musl) >"$out/cargo.log" 2>&1; then
    UPSCRIPT_ERR="building the mipsel upscript failed: $(grep -m1 -E '^error' "$out/cargo.log" || tail -n1 "$out/cargo.log")"
    return 1
  fi
  [ -x "$upscript" ] || { UPSCRIPT_ERR="cargo succeeded but $upscript is missing"; return 1; }
}

# isc_dhcpd DIR: ISC dhcpd (Debian's isc-dhcp-server, mipsel) in DIR/usr/sbin
# for the ISP, fetched into the cache with the base's apt state. Only with
# ODHCP6C=path (its libraries, libc and libatomic, are in the base).
isc_dhcpd() {
  local deb a=$cache/apt-bookworm-mipsel t
  deb=$(ls "$cache"/debs/isc-dhcp-server_*.deb 2>/dev/null | head -n1)
  if [ -z "$deb" ]; then
    (cd "$cache/debs" && apt-get -o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/dev/null \
       -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o APT::Architecture=mipsel \
       -o APT::Architectures=mipsel -o APT::Sandbox::User=root download -qq isc-dhcp-server) ||
      die "cannot download isc-dhcp-server for the ISP's DHCPv6 server"
    deb=$(ls "$cache"/debs/isc-dhcp-server_*.deb | head -n1)
  fi
  t=$(mktemp -d)
  dpkg-deb -x "$deb" "$t"
  cp "$t/usr/sbin/dhcpd" "$1/usr/sbin/dhcpd"
  rm -rf "$t"
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
  if [ -n "${ODHCP6C:-}" ]; then
    # A real odhcp6c (mipsel) instead of the replayer, and ISC dhcpd for the
    # ISP (qemu-tests/verify/real-odhcp6c.sh; local verification only: not in CI).
    [ -x "$ODHCP6C" ] || die "ODHCP6C=$ODHCP6C is not an executable file"
    mkdir -p "$d/usr/sbin"
    cp "$ODHCP6C" "$d/usr/sbin/odhcp6c"
    isc_dhcpd "$d"
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
  # the overlay first: a real odhcp6c in upd.cpio.gz replaces the replayer's link
  cat "$base/base.cpio.gz" "$out/overlay.cpio.gz" "$out/upd.cpio.gz" > "$f"
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
