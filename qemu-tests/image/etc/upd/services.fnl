;; The emulated router, the whole chain (docs/services.md has its diagram):
;; the WAN (netdev, pppoe with IPv6CP), DHCPv6 with prefix delegation on
;; ppp0 (odhcp6c: /usr/sbin/odhcp6c is the replayer, or a real odhcp6c with
;; ODHCP6C=path), the LAN (lan: the delegated prefix on lan0, dnsmasq for
;; RA, DHCPv6, DHCPv4 and DNS) and IPv4 NAT out of ppp0.
;; pppd 2.4.9 has no ipv6-up-script: it runs /etc/ppp/ipv6-up, hence "".
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0" "--ipv6" "--ipv6-up" "" "--ipv6-down" ""]}
 {:name "odhcp6c-wan" :script "odhcp6c" :args ["ppp0" "--odhcp6c" "/usr/sbin/odhcp6c" "--" "-P" "56"]}
 {:name "lan" :script "lan"
  :args ["/run/dnsmasq-lan.conf" "odhcp6c-wan" "pppoe" "--interface" "lan0" "--ipv4" "192.168.1.1/24"
         "--" "--interface=lan0" "--bind-dynamic" "--no-resolv" "--no-hosts"
         "--dhcp-range=192.168.1.100,192.168.1.199,1h" "--log-facility=/tmp/dnsmasq.log"
         "--user=root" "--group=root" "--pid-file=/run/dnsmasq-lan.pid"]}
 {:name "nat" :script "nat" :args ["ppp0" "--source" "192.168.1.0/24"]}]
