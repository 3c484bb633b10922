;; For the MQTT tests: tests/fake-upd.fnl plus what a transport process needs
;; (upd.write recorded per process, upd.mode), a parser of the packets a
;; client writes, and the bytes a broker would send.
(local fake (require :tests.fake-upd))
(local mqtt (require :upd.mqtt))

(local h {: fake})

(fn h.install! []
  (fake.install!)
  (h.reset!)
  h)

(fn h.reset! []
  (fake.reset!)
  (set h.written {})
  (set h.private {})
  (set h.pipe-room nil)
  (set fake.write (fn [handle data]
                    (let [n (if h.pipe-room (math.min h.pipe-room (length data)) (length data))]
                      (when h.pipe-room (set h.pipe-room (- h.pipe-room n)))
                      (tset h.written handle.pid (.. (or (. h.written handle.pid) "") (data:sub 1 n)))
                      n)))
  ;; upd.mode: a tree's `.<name>/` (0700 when h.private names it), else a
  ;; file of h.modes (default 0600, a credentials file as it should be).
  (set h.modes {})
  (set fake.mode (fn [path]
                   (let [name (path:match "^/fake/run/upd/%.(.+)$")]
                     (if name (if (. h.private name) 448 (. fake.published name) 493
                                  (values nil (.. path ": No such file or directory")))
                         (or (. h.modes path) 384)))))
  ;; As upd.subscribe: the handler runs soon after with a tree that exists.
  (let [subscribe fake.subscribe]
    (set fake.subscribe (fn [name handler]
                          (let [id (subscribe name handler)]
                            (when (. fake.published name)
                              (table.insert fake.pending #(handler (fake.read name) [])))
                            id)))))

(fn u16 [s at] (+ (* 256 (s:byte at)) (s:byte (+ at 1))))

(fn h.parse-out [bytes]
  "The packets a client wrote, as tables with :type and their fields."
  (let [out []]
    (var pos 1)
    (while (<= pos (length bytes))
      (let [first (bytes:byte pos)]
        (var (len mult i) (values 0 1 (+ pos 1)))
        (var more? true)
        (while more?
          (let [b (bytes:byte i)]
            (set len (+ len (* mult (% b 128))))
            (set mult (* mult 128))
            (set i (+ i 1))
            (set more? (>= b 128))))
        (let [body (bytes:sub i (+ i len -1))
              kind (math.floor (/ first 16))
              p {:type (. {1 :connect 3 :publish 4 :puback 8 :subscribe 10 :unsubscribe
                           12 :pingreq 14 :disconnect} kind)}]
          (case kind
            1 (let [flags (body:byte 8)
                    strs []]
                (var at 11)
                (while (<= at (length body))
                  (let [n (u16 body at)]
                    (table.insert strs (body:sub (+ at 2) (+ at 1 n)))
                    (set at (+ at 2 n))))
                (set p.keepalive (u16 body 9))
                (set p.id (table.remove strs 1))
                (when (> (% (math.floor (/ flags 4)) 2) 0)
                  (set p.will {:topic (table.remove strs 1) :payload (table.remove strs 1)
                               :retain (>= (% flags 64) 32) :qos (% (math.floor (/ flags 8)) 4)}))
                (when (>= flags 128) (set p.user (table.remove strs 1)))
                (when (>= (% flags 128) 64) (set p.password (table.remove strs 1))))
            3 (let [qos (% (math.floor (/ first 2)) 4)
                    tl (u16 body 1)]
                (set (p.topic p.qos p.retain) (values (body:sub 3 (+ 2 tl)) qos (= 1 (% first 2))))
                (when (> qos 0) (set p.id (u16 body (+ 3 tl))))
                (set p.payload (body:sub (+ 3 tl (if (> qos 0) 2 0)))))
            4 (set p.id (u16 body 1))
            8 (do (set p.id (u16 body 1))
                  (set p.filters [])
                  (var at 3)
                  (while (<= at (length body))
                    (let [n (u16 body at)]
                      (table.insert p.filters (body:sub (+ at 2) (+ at 1 n)))
                      (set at (+ at 3 n)))))
            10 (do (set p.id (u16 body 1))
                   (set p.filters [])
                   (var at 3)
                   (while (<= at (length body))
                     (let [n (u16 body at)]
                       (table.insert p.filters (body:sub (+ at 2) (+ at 1 n)))
                       (set at (+ at 2 n))))))
          (table.insert out p)
          (set pos (+ i len)))))
    out))

(fn h.take! [pid]
  "The packets process PID has written since the last take!."
  (let [bytes (or (. h.written pid) "")]
    (tset h.written pid "")
    (h.parse-out bytes)))

;; What a broker sends.
(set h.connack (fn [?code] (.. "\32\2\0" (string.char (or ?code 0)))))
(set h.suback (fn [id] (.. "\144\3" (string.char (math.floor (/ id 256)) (% id 256)) "\1")))
(set h.puback mqtt.puback)
(set h.pingresp "\208\0")
(fn h.publish [topic payload ?retain ?qos ?id] (mqtt.publish topic payload (or ?qos 0) ?retain (or ?id 1)))

(fn h.send! [pid bytes] (fake.line! {: pid} :stdout bytes))

(fn h.of-type [packets kind] (icollect [_ p (ipairs packets)] (when (= p.type kind) p)))

h
