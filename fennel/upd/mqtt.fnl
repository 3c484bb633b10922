;; upd.mqtt: MQTT 3.1.1 packets as Lua strings, both ways, pure (no I/O).
;; Only what a client that publishes retained state and subscribes needs:
;; CONNECT (will, username, password), PUBLISH QoS 0/1, PUBACK, SUBSCRIBE,
;; UNSUBSCRIBE, PINGREQ, DISCONNECT out; CONNACK, PUBLISH, PUBACK, SUBACK,
;; UNSUBACK, PINGRESP in. A decoder is fed the transport's bytes as they come
;; and holds at most one packet of at most `max` bytes: a bigger PUBLISH is
;; skipped as it streams by (reported, acknowledged), never buffered.

(fn u16 [n] (string.char (math.floor (/ n 256)) (% n 256)))

(fn str [s] (.. (u16 (length s)) s))

(fn varint [n]
  ;; the remaining length: 7 bits a byte, least significant first
  (var (n out) (values n ""))
  (var more? true)
  (while more?
    (let [d (% n 128)]
      (set n (math.floor (/ n 128)))
      (set more? (> n 0))
      (set out (.. out (string.char (if more? (+ d 128) d))))))
  out)

(fn packet [first body] (.. (string.char first) (varint (length body)) body))

(fn connect [o]
  "o: :id, :keepalive (s), :clean (default true), :will {:topic :payload
  :qos :retain}, :user, :password."
  (let [will o.will
        flags (+ (if (= o.clean false) 0 2)
                 (if will (+ 4 (* 8 (or will.qos 0)) (if will.retain 32 0)) 0)
                 (if o.password 64 0) (if o.user 128 0))]
    (packet 0x10 (.. (str "MQTT") "\4" (string.char flags) (u16 (or o.keepalive 60))
                     (str o.id)
                     (if will (.. (str will.topic) (str (or will.payload ""))) "")
                     (if o.user (str o.user) "")
                     (if o.password (str o.password) "")))))

(fn publish [topic payload ?qos ?retain ?id]
  (let [qos (or ?qos 0)]
    (packet (+ 0x30 (* 2 qos) (if ?retain 1 0))
            (.. (str topic) (if (> qos 0) (u16 ?id) "") payload))))

(fn puback [id] (.. "\64\2" (u16 id)))

(fn subscribe [id filters ?qos]
  (packet 0x82 (.. (u16 id) (table.concat (icollect [_ f (ipairs filters)]
                                            (.. (str f) (string.char (or ?qos 0))))))))

(fn unsubscribe [id filters]
  (packet 0xA2 (.. (u16 id) (table.concat (icollect [_ f (ipairs filters)] (str f))))))

(local pingreq "\192\0")
(local disconnect "\224\0")

(local connack-reasons
  {1 "unacceptable protocol version" 2 "client identifier rejected"
   3 "server unavailable" 4 "bad user name or password" 5 "not authorized"})

;;; Decoding

(fn header [buf pos]
  "The remaining length and where the body starts, false when more bytes are
  needed, or nil, msg."
  (var (len mult i) (values 0 1 (+ pos 1)))
  (var result nil)
  (while (= nil result)
    (let [b (buf:byte i)]
      (if (= nil b) (set result false)
          (> i (+ pos 4)) (set result :bad)
          (do (set len (+ len (* mult (% b 128))))
              (set mult (* mult 128))
              (set i (+ i 1))
              (when (< b 128) (set result true))))))
  (case result
    true (values len i)
    :bad (values nil "malformed remaining length")
    _ false))

(fn read-u16 [s at] (+ (* 256 (s:byte at)) (s:byte (+ at 1))))

(fn body->packet [first body]
  "One packet as a table, or nil, msg."
  (let [kind (math.floor (/ first 16))
        n (length body)]
    (case kind
      2 (if (= n 2) {:type :connack :code (body:byte 2) :session-present (= 1 (% (body:byte 1) 2))}
            (values nil "malformed CONNACK"))
      3 (let [qos (% (math.floor (/ first 2)) 4)
              tlen (if (>= n 2) (read-u16 body 1) n)
              after (+ 3 tlen (if (> qos 0) 2 0))]
          (if (or (> qos 1) (> after (+ n 1))) (values nil "malformed PUBLISH")
              {:type :publish :topic (body:sub 3 (+ 2 tlen)) :qos qos :retain (= 1 (% first 2))
               :id (when (> qos 0) (read-u16 body (+ 3 tlen))) :payload (body:sub after)}))
      4 (if (= n 2) {:type :puback :id (read-u16 body 1)} (values nil "malformed PUBACK"))
      9 (if (>= n 3) {:type :suback :id (read-u16 body 1) :codes [(body:byte 3 -1)]}
            (values nil "malformed SUBACK"))
      11 (if (= n 2) {:type :unsuback :id (read-u16 body 1)} (values nil "malformed UNSUBACK"))
      13 {:type :pingresp}
      _ (values nil (.. "unexpected packet type " kind)))))

(fn feed [d chunk]
  "Bytes from the transport -> the complete packets in them (a sequence), or
  nil, msg on a protocol error (then the connection is to be dropped).
  An over-long PUBLISH comes out as {:type :oversized :size N :topic T :id I}
  once its head has arrived; its body is then dropped as it comes."
  (var buf (.. d.buf chunk))
  (set d.buf "")
  (when (> d.skip 0)
    (let [k (math.min d.skip (length buf))]
      (set d.skip (- d.skip k))
      (set buf (buf:sub (+ k 1)))))
  (let [out []]
    (var (pos err) (values 1 nil))
    (var more? true)
    (while (and more? (not err) (<= pos (length buf)))
      (let [first (buf:byte pos)
            (len start) (header buf pos)]
        (if (= nil len) (set err start)
            (= false len) (set more? false)
            (> len d.max)
            ;; Wait for the topic and packet id, then skip the rest.
            (let [qos (% (math.floor (/ first 2)) 4)
                  tlen (and (>= (length buf) (+ start 1)) (read-u16 buf start))
                  head (and tlen (+ 2 tlen (if (> qos 0) 2 0)))]
              (if (not= 3 (math.floor (/ first 16))) (set err "oversized packet")
                  (or (not head) (> (+ start head -1) (length buf))) (set more? false)
                  (do (table.insert out {:type :oversized :size len :qos qos
                                         :topic (buf:sub (+ start 2) (+ start 1 tlen))
                                         :id (when (> qos 0) (read-u16 buf (+ start 2 tlen)))})
                      (let [have (- (length buf) start -1)]
                        (set d.skip (math.max 0 (- len have)))
                        (set pos (+ start (math.min len have)))))))
            (> (+ start len -1) (length buf)) (set more? false)
            (case (body->packet first (buf:sub start (+ start len -1)))
              p (do (table.insert out p) (set pos (+ start len)))
              (nil msg) (set err msg)))))
    (if err (values nil err)
        (do (set d.buf (buf:sub pos)) out))))

(fn decoder [?max]
  "A decoder for one connection; at most ?max (default 68 KiB) bytes a packet."
  {:buf "" :skip 0 :max (or ?max 69632)})

;;; Topics

(fn topic-level? [s]
  "A name usable as one topic level and as an upd key: no / + # or NUL, not
  . or .. (upd refuses those keys: a tree holding one could not be published)."
  (and (= (type s) :string) (not= s "") (not= s ".") (not= s "..") (<= (length s) 255)
       (= nil (s:find "[^%w._:%-]"))))

{: connect : publish : puback : subscribe : unsubscribe : pingreq : disconnect
 : connack-reasons : decoder : feed : varint : topic-level?}
