;; The WAN alone (the scenarios about PPPoE itself): netdev on eth0, pppoe
;; on eth0 -> ppp0.
[{:name "eth0" :script "netdev" :args ["eth0"]}
 {:name "pppoe" :script "pppoe" :args ["eth0" "ppp0"]}]
