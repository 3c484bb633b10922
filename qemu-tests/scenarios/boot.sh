# boot: `upd run` supervises netdev(eth0) and pppoe(eth0, ppp0): eth0's carrier
# is published as yes, ppp0 comes up, pppoe's state is up with the addresses of
# ppp0, a ping over ppp0 answers, and the console commands show it all.
# needs: upscript
# timeout: 120

upd_up
info "pppoe up $UP_MS ms after eth0's carrier was published"
pppoe_matches_ppp0 || fail "pppoe publishes $(val pppoe/local-address) -> $(val pppoe/remote-address), ppp0 has $(ipv4_of ppp0) -> $(peer_of ppp0)"
ping -c 2 -W 2 "$(val pppoe/remote-address)" >/dev/null || fail "no ping answer from $(val pppoe/remote-address) over ppp0"

[ "$(upd get eth0/carrier)" = yes ] || fail "upd get eth0/carrier says '$(upd get eth0/carrier 2>&1)'"
upd show pppoe | grep -q '^state up$' || fail "upd show pppoe has no 'state up' line: $(upd show pppoe 2>&1 | tr '\n' '|')"
status=$(upd status 2>&1)
for s in eth0 pppoe; do
  echo "$status" | grep -q "^$s " || fail "upd status has no line for $s: $(echo "$status" | tr '\n' '|')"
done
echo "$status"
pass
