(local t (require :upd.test))
(local mqtt (require :upd.mqtt))
(local h (require :tests.mqtt-fake))
(local s (t.suite "mqtt"))

(fn feed-all [d chunks]
  (let [out []]
    (each [_ c (ipairs chunks)]
      (each [_ p (ipairs (assert (mqtt.feed d c)))] (table.insert out p)))
    out))

(fn bytes-of [s] (icollect [_ b (ipairs [(s:byte 1 -1)])] b))

(s:test "CONNECT as mosquitto reads it: the minimal one byte for byte, will and login fields"
        #(do (t.is= "\16\14\0\4MQTT\4\2\0\60\0\2r1" (mqtt.connect {:id "r1" :keepalive 60}))
             (let [[p] (h.parse-out (mqtt.connect {:id "r1" :keepalive 30 :user "u" :password "pw"
                                                   :will {:topic "upd/r1/status" :payload "offline"
                                                          :qos 1 :retain true}}))]
               (t.is= {:type :connect :id "r1" :keepalive 30 :user "u" :password "pw"
                       :will {:topic "upd/r1/status" :payload "offline" :qos 1 :retain true}} p))))

(s:test "remaining lengths: one to four bytes at the boundaries"
        #(do (t.is= [0] (bytes-of (mqtt.varint 0)))
             (t.is= [127] (bytes-of (mqtt.varint 127)))
             (t.is= [128 1] (bytes-of (mqtt.varint 128)))
             (t.is= [255 127] (bytes-of (mqtt.varint 16383)))
             (t.is= [128 128 1] (bytes-of (mqtt.varint 16384)))
             (t.is= [128 128 128 1] (bytes-of (mqtt.varint 2097152)))))

(s:test "PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PUBACK round-trip through a client-side parser"
        #(do (t.is= [{:type :publish :topic "a/b" :qos 1 :retain true :id 7 :payload "v"}
                     {:type :publish :topic "a" :qos 0 :retain false :payload ""}
                     {:type :subscribe :id 9 :filters ["x/#" "y/+"]}
                     {:type :unsubscribe :id 10 :filters ["x/#"]}
                     {:type :puback :id 513}]
                    (h.parse-out (.. (mqtt.publish "a/b" "v" 1 true 7) (mqtt.publish "a" "")
                                     (mqtt.subscribe 9 ["x/#" "y/+"] 1) (mqtt.unsubscribe 10 ["x/#"])
                                     (mqtt.puback 513))))
             (let [big (string.rep "z" 300)
                   [p] (h.parse-out (mqtt.publish "t" big 1 false 1))]
               (t.is= big p.payload "a two-byte remaining length"))))

(s:test "the decoder: packets split anywhere, several in one chunk"
        #(let [stream (.. "\32\2\1\0" (mqtt.publish "upd/r1/set/k/a" "line1\nline2" 1 true 5)
                          "\64\2\0\9" "\144\3\0\2\1" "\176\2\0\3" "\208\0")
               whole (feed-all (mqtt.decoder) [stream])
               bytewise (feed-all (mqtt.decoder) (icollect [i (ipairs [(stream:byte 1 -1)])]
                                                   (stream:sub i i)))]
           (t.is= [{:type :connack :code 0 :session-present true}
                   {:type :publish :topic "upd/r1/set/k/a" :payload "line1\nline2" :qos 1 :retain true :id 5}
                   {:type :puback :id 9} {:type :suback :id 2 :codes [1]} {:type :unsuback :id 3}
                   {:type :pingresp}]
                  whole)
           (t.is= whole bytewise)))

(s:test "an over-long PUBLISH is reported once, skipped in bounded memory, and what follows is intact"
        #(let [d (mqtt.decoder 1000)
               big (mqtt.publish "upd/r1/set/k/big" (string.rep "x" 100000) 1 true 77)
               stream (.. big "\208\0")
               out []]
           (var i 1)
           (var most 0)
           (while (<= i (length stream))
             (each [_ p (ipairs (assert (mqtt.feed d (stream:sub i (+ i 4095))))) ] (table.insert out p))
             (set most (math.max most (length d.buf)))
             (set i (+ i 4096)))
           (t.is= [{:type :oversized :size 100020 :qos 1 :topic "upd/r1/set/k/big" :id 77} {:type :pingresp}] out)
           (t.is (< most 1000) (.. "buffered " most " bytes"))))

(s:test "malformed input is an error, never a crash"
        #(do (t.is= nil (mqtt.feed (mqtt.decoder) "\32\255\255\255\255\1"))
             (t.is= "malformed remaining length" (select 2 (mqtt.feed (mqtt.decoder) "\32\255\255\255\255\1")))
             (t.is= "malformed CONNACK" (select 2 (mqtt.feed (mqtt.decoder) "\32\3\0\0\0")))
             (t.is= "malformed PUBLISH" (select 2 (mqtt.feed (mqtt.decoder) "\48\3\0\9a")))
             (t.is= "malformed PUBLISH" (select 2 (mqtt.feed (mqtt.decoder) "\52\3\0\1a")) "QoS 2")
             (t.is= "unexpected packet type 1" (select 2 (mqtt.feed (mqtt.decoder) "\16\0")))))

(s:test "topic levels are upd keys: no / + # or control bytes, not . or .."
        #(do (t.is (mqtt.topic-level? "odhcp6c-wan.dhcp"))
             (t.is (mqtt.topic-level? ".a"))
             (each [_ bad (ipairs ["" "a/b" "+" "#" "a b" "x\0" "." ".." (string.rep "a" 256)])]
               (t.is (not (mqtt.topic-level? bad)) bad))))

(s:done)
