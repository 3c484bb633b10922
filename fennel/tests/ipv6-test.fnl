(local t (require :upd.test))
(local ipv6 (require :ipv6))
(local s (t.suite "ipv6"))

(s:test "text -> groups -> text (RFC 5952), v4-mapped, bad input"
        #(do (t.is= [8193 3512 0 0 0 0 0 1] (ipv6.->groups "2001:db8::1"))
             (t.is= "2001:db8::1" (ipv6.groups->text (ipv6.->groups "2001:0DB8:0:0:0:0:0:1")))
             (t.is= "2001:db8:0:1::" (ipv6.groups->text (ipv6.->groups "2001:db8:0:1:0:0:0:0")))
             (t.is= "2001:db8:1:0:1::" (ipv6.groups->text (ipv6.->groups "2001:db8:1:0:1:0:0:0")))
             (t.is= "::" (ipv6.groups->text (ipv6.->groups "::")))
             (t.is= [0 0 0 0 0 65535 49152 513] (ipv6.->groups "::ffff:192.0.2.1"))
             (each [_ bad (ipairs ["" "1.2.3.4" "2001:db8::1::2" "12345::" "1:2:3:4:5:6:7:8:9" ":::" "g::1"
                                   "::ffff:300.1.1.1"])]
               (t.is= nil (ipv6.->groups bad) bad))))

(s:test "prefix masks the host part"
        #(do (t.is= "2001:db8:1200::" (ipv6.prefix "2001:db8:12ff::5" 40))
             (t.is= "2001:db8:1:2::" (ipv6.prefix "2001:db8:1:2:3:4:5:6" 64))))

(s:test "subnet-address: the /64 number N of a delegated prefix, host ::H"
        #(do (t.is= ["2001:db8:1200::1" "2001:db8:1200::"] [(ipv6.subnet-address "2001:db8:1200::" 56 0 1)])
             (t.is= ["2001:db8:1200:ff::1" "2001:db8:1200:ff::"] [(ipv6.subnet-address "2001:db8:1200::" 56 255 1)])
             (t.is= ["2001:db8:1:1234::a" "2001:db8:1:1234::"] [(ipv6.subnet-address "2001:db8:1::" 48 4660 10)])
             (t.is= ["2001:db8:0:1::1" "2001:db8:0:1::"] [(ipv6.subnet-address "2001:db8::" 32 1 1)])
             (t.is= ["2001:db8::1" "2001:db8::"] [(ipv6.subnet-address "2001:db8::" 64 0 1)])
             (t.is= [nil "subnet 256 does not fit in a /56 (at most 255)"] [(ipv6.subnet-address "2001:db8::" 56 256 1)])
             (t.is= [nil "prefix /80 is longer than /64: no LAN subnet fits"] [(ipv6.subnet-address "2001:db8::" 80 0 1)])
             (t.is= "2001:db8:1200:1::1" (ipv6.subnet-address "2001:db8:1200:ff::" 56 1 1) "host bits of the prefix are masked")))

(s:done)
