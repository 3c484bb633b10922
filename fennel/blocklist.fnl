;; blocklist: polls a URL for a list of IP addresses (one per line, IPv4 or
;; IPv6, optional /length; blank lines and # comments ignored) with
;; `wget -q -T 30 -O - URL` every --interval SECS (default 3600; first fetch
;; at start).
;;
;; A fetch is accepted only whole: one line that is not an address (an HTML
;; error page, a truncated line), an empty list, more than --max entries
;; (65536), or wget failing keeps the last good list, and says why in
;; last-error, naming the line.
;; Publishes <name> (default "blocklist"): state (starting: no fetch done
;; yet; ok: the last fetch was good; stale: it failed, the list is an older
;; good one; failed: no good list yet), last-error, count, addresses/N
;; (normalised: lowercase, IPv4 without a /32, IPv6 without a /128).
;; Also exports `parse-address` for the firewall.
(local upd (require :upd))

(fn ipv4 [text]
  (let [parts [(text:match "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")]]
    (when (= 4 (length parts))
      (accumulate [ok true _ p (ipairs parts)]
        (and ok (<= (tonumber p) 255) (or (= p "0") (not (p:match "^0"))) (<= (length p) 3))))))

(fn hex-groups [text]
  (if (= text "") []
      (let [out []]
        (var ok? true)
        (each [g (string.gmatch (.. text ":") "([^:]*):")]
          (if (g:match "^%x%x?%x?%x?$") (table.insert out g) (set ok? false)))
        (when ok? out))))

(fn ipv6 [text]
  ;; accepts ::, a trailing dotted IPv4 (::ffff:192.0.2.1); -> true or nil
  (let [(head4 v4) (text:match "^(.*:)(%d+%.%d+%.%d+%.%d+)$")
        text (if v4 (if (ipv4 v4) (.. head4 "0:0") "bad") text)]
    (when (text:match "^[%x:]+$")
      (case (text:find "::" 1 true)
        nil (case (hex-groups text) g (= 8 (length g)))
        at (case [(hex-groups (text:sub 1 (- at 1))) (hex-groups (text:sub (+ at 2)))]
             [h t] (< (+ (length h) (length t)) 8))))))

(fn parse-address [line]
  ;; -> normalised address, family (:inet/:inet6); or nil, msg
  (let [(addr len) (let [(a l) (line:match "^([^/]+)/(%d+)$")]
                     (if a (values a (tonumber l)) (values line nil)))]
    (if (ipv4 addr)
        (if (and len (> len 32)) (values nil "prefix length over 32")
            (values (if (and len (< len 32)) (.. addr "/" len) addr) :inet))
        (ipv6 addr)
        (if (and len (> len 128)) (values nil "prefix length over 128")
            (values (.. (addr:lower) (if (and len (< len 128)) (.. "/" len) "")) :inet6))
        (values nil "not an IPv4 or IPv6 address"))))

(fn parse-list [text max]
  ;; -> sequence of addresses; or nil, msg naming the line
  (let [out [] seen {}]
    (var (n err) (values 0 nil))
    (each [raw (string.gmatch (.. text "\n") "([^\n]*)\n") &until err]
      (set n (+ n 1))
      (let [line (-> raw (string.gsub "#.*$" "") (string.gsub "^%s+" "") (string.gsub "%s+$" ""))]
        (when (not= line "")
          (case (parse-address line)
            addr (when (not (. seen addr))
                   (tset seen addr true)
                   (table.insert out addr))
            (nil msg) (set err (string.format "line %d: %s: '%s'" n msg (raw:sub 1 60)))))))
    (if err (values nil err)
        (= 0 (length out)) (values nil "the list is empty")
        (> (length out) max) (values nil (.. "more than " max " entries"))
        out)))

(fn publish! [s]
  (upd.publish s.name {:state s.state :last-error s.last-error :url s.url
                       :count (length (or s.good [])) :addresses s.good}))

(fn fail! [s msg]
  (set s.last-error msg)
  (set s.state (if s.good :stale :failed))
  (upd.log :warn (.. "keeping the last good list: " msg)))

(fn finish! [s lines status]
  (set s.fetching? false)
  (if (not= status.code 0)
      (fail! s (.. "wget failed (" (if status.code (.. "code " status.code)
                                       (.. "signal " (tostring status.signal))) ")"))
      (case (parse-list (table.concat lines "\n") s.max)
        list (do (set s.good list) (set s.state :ok) (set s.last-error nil))
        (nil msg) (fail! s (.. s.url ": " msg))))
  (publish! s))

(fn fetch! [s]
  (when (not s.fetching?)
    (let [lines []]
      (var bytes 0)
      (set s.fetching? true)
      (case (upd.spawn {:argv [s.wget "-q" "-T" "30" "-O" "-" s.url]
                        :on-line (fn [stream line]
                                   (if (= stream :stdout)
                                       (when (< bytes s.max-bytes)
                                         (set bytes (+ bytes (length line) 1))
                                         (table.insert lines line))
                                       (upd.log :warn (.. "wget: " line))))
                        :on-exit #(finish! s lines $1)})
        (nil msg) (do (set s.fetching? false)
                      (fail! s (.. "unable to run " s.wget ": " msg))
                      (publish! s))))))

(fn new [url ?opts]
  (let [opts (or ?opts {})]
    {: url :name (or opts.name (upd.service-name "blocklist"))
     :interval (or opts.interval 3600) :wget (or opts.wget "wget")
     :max (or opts.max 65536) :max-bytes (* 64 (or opts.max 65536))
     :state :starting}))

(fn start! [s]
  (publish! s)
  (fetch! s)
  (upd.every s.interval #(fetch! s))
  s)

(local usage "usage: blocklist URL [--interval SECS] [--max N] [--name NAME] [--wget PATH]")

(fn parse-args [args]
  (let [opts {} pos []]
    (var (i err) (values 1 nil))
    (while (and (<= i (length args)) (not err))
      (let [a (. args i) v (. args (+ i 1))]
        (if (or (= a "--interval") (= a "--max"))
            (if (and v (tonumber v) (> (tonumber v) 0))
                (do (tset opts (a:sub 3) (tonumber v)) (set i (+ i 1)))
                (set err (.. a " needs a positive number, not " (tostring v))))
            (or (= a "--name") (= a "--wget"))
            (if v (do (tset opts (a:sub 3) v) (set i (+ i 1)))
                (set err (.. a " needs a value")))
            (a:match "^%-") (set err (.. "unknown option " a))
            (table.insert pos a)))
      (set i (+ i 1)))
    (if err (values nil err)
        (not= 1 (length pos)) (values nil "expected one URL")
        (values (. pos 1) opts))))

(fn main [args]
  (case (parse-args args)
    (nil msg) (do (io.stderr:write (.. "blocklist: " msg "\n" usage "\n")) (os.exit 100))
    (url opts) (do (start! (new url opts)) (upd.run))))


{: main : new : start! : parse-address : parse-list : parse-args}
