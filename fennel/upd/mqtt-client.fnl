;; upd.mqtt-client: one MQTT 3.1.1 connection, kept up. The bytes go through
;; a transport process, `openssl s_client`, which does TLS and verifies the
;; broker (its CA, its name); upd.process restarts it with the shared backoff
;; (upd.policy: 1 s doubling to :max-backoff, reset after 10 s up).
;;
;;   (new opts) -> c   opts: :broker "mqtts://HOST[:PORT]" :id :keepalive (60)
;;     :will {:topic :payload :qos :retain} :user :password :ca :cert :key
;;     :openssl (path) :max-backoff (60) :window (16 unacknowledged QoS 1
;;     publishes) :window-bytes (32768) and callbacks :on-connect (fn [c])
;;     :on-message (fn [c packet]) :on-ack (fn [c id]) :on-disconnect (fn [c why])
;;   (c:start) -> true, or nil, msg (a bad broker URL)
;;   (c:publish topic payload ?qos ?retain) -> packet id (QoS 1) or true;
;;     nil, msg when not connected or the window is full (c:room? says)
;;   (c:subscribe filters ?qos) (c:unsubscribe filters) -> packet id
;;   (c:batch f) what (f) sends goes out in one write
;;   (c:reconnect why) drops this connection; the next one follows the backoff
;;   (c:stop) DISCONNECT, then the transport ends; :on-disconnect once it has
;;
;; Written bytes the pipe did not take wait in c.unsent, bounded by the
;; window; the window also bounds what the transport and TCP hold.
(local upd (require :upd))
(local process (require :upd.process))
(local mqtt (require :upd.mqtt))

(fn parse-broker [url]
  "mqtts://HOST[:PORT] (HOST may be [IPv6]) -> host, port, or nil, msg."
  (let [rest (: (or url "") :match "^mqtts://(.-)/?$")
        (host port) (if (= nil rest) nil
                        (rest:find "^%[") (rest:match "^%[([%x:.]+)%]:?(%d*)$")
                        (rest:match "^([%w.%-]+):?(%d*)$"))]
    (if (= nil host) (values nil (.. "bad broker URL " (string.format "%q" (or url ""))
                                     " (expected mqtts://HOST[:PORT])"))
        (values host (if (= port "") 8883 (tonumber port))))))

(fn transport-argv [o host port]
  (let [ip? (or (host:find ":") (host:find "^[%d.]+$"))
        argv [(or o.openssl "openssl") "s_client" "-quiet" "-verify_quiet"
              "-connect" (.. (if (host:find ":") (.. "[" host "]") host) ":" port)
              "-verify_return_error" (if ip? "-verify_ip" "-verify_hostname") host]]
    (when (not ip?) (table.insert argv "-servername") (table.insert argv host))
    (each [_ [flag v] (ipairs [["-CAfile" o.ca] ["-cert" o.cert] ["-key" o.key]])]
      (when v (table.insert argv flag) (table.insert argv v)))
    argv))

(fn secret-file [path]
  "nil, or why the file PATH must not hold a secret (a password, a private
  key): unreadable, or readable by others (mode o+r)."
  (case (upd.mode path)
    (nil msg) msg
    (where mode (>= (% mode 8) 4))
    (string.format "%s is readable by others (mode %03o): chmod o-r it" path mode)))

(local Client {})
(set Client.__index Client)

(fn call [c name ...]
  (let [f (. c.opts name)] (when f (f c ...))))

(fn Client.connected? [c] (= c.state :connected))

(fn Client.room? [c]
  (and (= c.state :connected) (< c.inflight-n c.window)
       (or (= c.inflight-n 0) (< c.inflight-bytes c.window-bytes))))

(fn cancel! [c key]
  (when (. c key) (upd.cancel (. c key)) (tset c key nil)))

(fn drop! [c why]
  "Ends this connection (the transport's exit then schedules the next one)."
  (when (and c.p.handle (not c.dropping))
    (set c.dropping why)
    (upd.log :warn (.. "mqtt " c.host ": " why))
    (upd.terminate c.p.handle 2)))

(fn drain! [c]
  (when (and c.p.handle (not= c.unsent ""))
    (case (upd.write c.p.handle c.unsent)
      n (do (set c.unsent (c.unsent:sub (+ n 1)))
            (when (and (not= c.unsent "") (not c.retry))
              (set c.retry (upd.after 0.05 #(do (set c.retry nil) (drain! c))))))
      (nil msg) (drop! c msg))))

(fn send! [c data]
  (set c.unsent (.. c.unsent data))
  (when (not c.corked?) (drain! c)))

(fn Client.batch [c f]
  "Runs (f); what it sends goes out in one write."
  (set c.corked? true)
  (let [(ok? err) (pcall f)]
    (set c.corked? false)
    (drain! c)
    (when (not ok?) (error err 0))))

(fn Client.reconnect [c why] (drop! c why))

(fn next-id! [c]
  (var id c.last-id)
  (var found nil)
  (while (not found)
    (set id (+ 1 (% id 65535)))
    (when (= nil (. c.inflight id)) (set found id)))
  (set c.last-id found)
  found)

(fn Client.publish [c topic payload ?qos ?retain]
  (if (not= c.state :connected) (values nil "not connected")
      (and (= ?qos 1) (not (c:room?))) (values nil "window full")
      (= ?qos 1)
      (let [id (next-id! c)
            data (mqtt.publish topic payload 1 ?retain id)]
        (tset c.inflight id (length data))
        (set c.inflight-n (+ c.inflight-n 1))
        (set c.inflight-bytes (+ c.inflight-bytes (length data)))
        (send! c data)
        id)
      (do (send! c (mqtt.publish topic payload 0 ?retain)) true)))

(fn Client.subscribe [c filters ?qos]
  (let [id (next-id! c)] (send! c (mqtt.subscribe id filters ?qos)) id))

(fn Client.unsubscribe [c filters]
  (let [id (next-id! c)] (send! c (mqtt.unsubscribe id filters)) id))

(fn on-packet [c p]
  (case p.type
    :connack (if (not= p.code 0)
                 (drop! c (.. "connection refused: "
                              (or (. mqtt.connack-reasons p.code) (.. "code " p.code))))
                 (do (cancel! c :connect-timer)
                     (set c.state :connected)
                     (set c.connects (+ c.connects 1))
                     (set c.keepalive-timer
                          (upd.every c.keepalive
                                     #(if c.ping-pending (drop! c (.. "no answer in " c.keepalive " s"))
                                          (do (set c.ping-pending true) (send! c mqtt.pingreq)))))
                     (call c :on-connect)))
    :puback (case (. c.inflight p.id)
              size (do (tset c.inflight p.id nil)
                       (set c.inflight-n (- c.inflight-n 1))
                       (set c.inflight-bytes (- c.inflight-bytes size))
                       (call c :on-ack p.id)))
    (where (or :publish :oversized))
    (do (call c :on-message p)
        (when (= p.qos 1) (send! c (mqtt.puback p.id))))
    _ (call c :on-message p)))

(fn on-bytes [c stream chunk]
  (if (= stream :stderr)
      ;; s_client's own lines: why a handshake failed, or noise.
      (when (not (chunk:find "SSL_get_servername"))
        (upd.log :warn (.. "mqtt " c.host ": " chunk)))
      (case (mqtt.feed c.decoder chunk)
        packets (do (set c.ping-pending false)
                    ;; What answers one read goes out in one write.
                    (c:batch #(each [_ p (ipairs packets) &until c.dropping] (on-packet c p))))
        (nil msg) (drop! c (.. "protocol error: " msg)))))

(fn start! [c]
  (when (and (not c.stopped?) (not (c.p:running?)))
    (set c.decoder (mqtt.decoder))
    (set (c.unsent c.dropping c.ping-pending) (values "" nil false))
    (set (c.inflight c.inflight-n c.inflight-bytes) (values {} 0 0))
    (case (c.p:start)
      nil (do (upd.log :err (.. "mqtt: cannot start " (. c.p.argv 1) ": "
                                (tostring (?. c.p.status :error))))
              (c.p:backoff))
      _ (do (set c.state :connecting)
            (send! c (mqtt.connect c.opts))
            (set c.connect-timer
                 (upd.after (or c.opts.connect-timeout 20) #(do (set c.connect-timer nil)
                                                                 (drop! c "no CONNACK")))))))
  c)

(fn on-exit [c status]
  (let [why (or c.dropping (if status.code (.. "transport exited with code " status.code)
                               (.. "transport killed by signal " (tostring status.signal))))]
    (each [_ k (ipairs [:connect-timer :keepalive-timer :retry :stop-timer])] (cancel! c k))
    (set c.state :idle)
    (when (and (not c.dropping) (not c.stopped?)) (upd.log :warn (.. "mqtt " c.host ": " why)))
    (call c :on-disconnect why)
    (when (not c.stopped?) (c.p:backoff))))

(fn Client.start [c]
  (if c.bad (values nil c.bad)
      (do (set c.stopped? false) (start! c) true)))

(fn Client.stop [c]
  (set c.stopped? true)
  (if (= c.state :connected)
      (do (send! c mqtt.disconnect)
          ;; The broker closes on DISCONNECT and the transport exits; else TERM.
          (set c.stop-timer (upd.after 2 #(do (set c.stop-timer nil) (c.p:stop 1)))))
      (c.p:stop 1)))

(fn new [opts]
  (let [(host port) (parse-broker opts.broker)
        c (setmetatable {: opts : host : port :state :idle :connects 0 :last-id 0
                         :keepalive (or opts.keepalive 60) :window (or opts.window 16)
                         :window-bytes (or opts.window-bytes 32768)
                         :unsent "" :inflight {} :inflight-n 0 :inflight-bytes 0}
                        Client)]
    (if (= nil host) (set c.bad port)
        (set c.p (process.new (transport-argv opts host port)
                              {:input true :output :bytes :healthy-after 10
                               :max-backoff (or opts.max-backoff 60)
                               :on-line #(on-bytes c $1 $2)
                               :on-exit #(on-exit c $2)
                               :on-wake #(start! c)})))
    c))

{: new : parse-broker : transport-argv : secret-file}
