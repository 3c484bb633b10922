;; blocklist: polls a URL for a list of IP addresses (one per line, IPv4 or
;; IPv6, optional /length; blank lines and # comments ignored) with
;; `wget -q -T 30 -O - URL` every --interval SECS (default 3600; first fetch
;; at start).
;;
;; The body is parsed as it arrives and only entries are kept: a fetch costs
;; what --max allows, whatever the server sends. A fetch is accepted only
;; whole: a line that is not an address, more than --max entries (65536),
;; 2 x --max + 1024 lines or 64 x --max bytes, no end within --deadline SECS
;; (120), an empty list or one over 1000 KiB of text, or wget failing keeps
;; the last good list and says why in last-error (wget is killed at once).
;; Entries are merged (10.9.9.9 goes in 10.0.0.0/8, two halves of a block
;; become the block, duplicates go): nft takes the set. Entries that would
;; cut the router off (overlapping loopback, 0.0.0.0, ::, fe80::/10, or an
;; address of the router) are refused, the rest is taken.
;; Publishes <name> (default "blocklist"): state (starting: no fetch done
;; yet; ok; stale: the last fetch failed, the list is an older good one;
;; failed: no good list yet), last-error, url, count, refused (how many were
;; refused), warning (the first), addresses/N: the list as text, one address
;; a line, in values of at most 64000 bytes (a tree holds 4096 entries, 1 MiB).
;; Exports parse-address, entry->text, cuts-off, merge, protected for the
;; firewall.
(local upd (require :upd))
(local args (require :upd.args))
(local v6 (require :ipv6))

(local chunk-size 64000)
(local list-budget (* 1000 1024))

;; An entry is a string that sorts as its block does: the family ("4" or
;; "6"), the address bytes with the host bits cleared, the prefix length.
(fn prefix-length [e] (e:byte -1))

(fn cut [bytes len]
  ;; bytes with every bit after the first len cleared
  (let [full (math.floor (/ len 8))
        b (or (bytes:byte (+ full 1)) 0)]
    (if (= full (length bytes)) bytes
        (.. (bytes:sub 1 full) (string.char (- b (% b (^ 2 (- 8 (% len 8))))))
            (string.rep "\0" (- (length bytes) full 1))))))

(fn make-entry [family bytes len] (.. family (cut bytes len) (string.char len)))

(fn within [e len]
  ;; the block of prefix length len that holds e
  (make-entry (e:sub 1 1) (e:sub 2 -2) len))

(fn covers? [a b]
  (and (<= (prefix-length a) (prefix-length b)) (= a (within b (prefix-length a)))))

(fn octet [p]
  (and p (<= (length p) 3) (or (= p "0") (not (p:match "^0"))) (<= (tonumber p) 255) (tonumber p)))

(fn ipv4 [text]
  ;; -> the 4 bytes, or nil
  (let [(a b c d) (text:match "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
        (a b c d) (values (octet a) (octet b) (octet c) (octet d))]
    (when (and a b c d) (string.char a b c d))))

(fn parse-address [text]
  ;; "10.9.9.9/8" -> the entry of 10.0.0.0/8; or nil, msg
  (let [(addr len) (text:match "^([^/]+)/(%d+)$")
        addr (or addr text)
        len (tonumber len)]
    (case (when (<= (length text) 64) (ipv4 addr))
      bytes (if (and len (> len 32)) (values nil "prefix length over 32")
                (make-entry "4" bytes (or len 32)))
      _ (case (when (<= (length text) 64) (v6.->groups addr))
          groups (if (and len (> len 128)) (values nil "prefix length over 128")
                    (make-entry "6" (v6.groups->bytes groups) (or len 128)))
          _ (values nil "not an IPv4 or IPv6 address")))))

(fn entry->text [e]
  (let [bytes (e:sub 2 -2) len (prefix-length e) v4? (= (e:sub 1 1) "4")]
    (.. (if v4? (table.concat [(bytes:byte 1 4)] ".") (v6.groups->text (v6.bytes->groups bytes)))
        (if (< len (if v4? 32 128)) (.. "/" len) ""))))

;; Dropping these sources would cut the router off: loopback, the source of a
;; host that has no address yet (DHCP, duplicate address detection), IPv6
;; link-local (neighbour discovery, router advertisements).
(local cut-off ["127.0.0.0/8" "0.0.0.0" "::1" "::" "fe80::/10"])

(fn protected []
  ;; -> the entries no list may overlap: cut-off and the router's addresses
  (let [out (icollect [_ a (ipairs cut-off)] (parse-address a))]
    (each [_ a (ipairs (or (upd.addresses) []))]
      (case (parse-address (tostring a.address)) e (table.insert out e)))
    out))

(fn cuts-off [e protected]
  ;; -> the protected entry that e overlaps, or nil
  (accumulate [hit nil _ p (ipairs protected) &until hit]
    (when (or (covers? e p) (covers? p e)) p)))

(fn join! [out n e]
  ;; puts e after out[n]; two halves of a block become the block; -> the new n
  (let [last (. out n) len (prefix-length e)]
    (if (and last (> len 0) (= len (prefix-length last)) (= (within last (- len 1)) (within e (- len 1))))
        (do (tset out n nil) (join! out (- n 1) (within e (- len 1))))
        (do (tset out (+ n 1) e) (+ n 1)))))

(fn merge [entries]
  ;; -> entries sorted, without what another entry holds (in place): blocks
  ;; nest or are apart, so what a kept one holds comes right after it
  (table.sort entries)
  (var n 0)
  (for [i 1 (length entries)]
    (let [e (. entries i)]
      (tset entries i nil)
      (when (not (and (> n 0) (covers? (. entries n) e)))
        (set n (join! entries n e)))))
  entries)

(fn chunks [entries]
  ;; -> the list as text, one address a line, in values of at most chunk-size; bytes
  (let [out []]
    (var (lines size total) (values [] 0 0))
    (each [_ e (ipairs entries)]
      (let [line (entry->text e)]
        (when (> (+ size (length line) 1) chunk-size)
          (table.insert out (table.concat lines "\n"))
          (set (lines size) (values [] 0)))
        (table.insert lines line)
        (set size (+ size (length line) 1))
        (set total (+ total (length line) 1))))
    (when (> size 0) (table.insert out (table.concat lines "\n")))
    (values out total)))

(fn publish! [s]
  ;; -> true, or nil, msg (logged)
  (let [l (or s.list {})]
    (case (upd.publish s.name {:state s.state :last-error s.last-error :url s.url :count (or l.count 0)
                               :refused l.refused :warning l.warning :addresses l.chunks})
      (nil msg) (do (upd.log :err (.. "unable to publish: " msg)) (values nil msg))
      ok ok)))

(fn fail! [s msg]
  (set s.last-error (.. s.url ": " msg))
  (set s.state (if s.list :stale :failed))
  (upd.log :warn (.. "keeping the last good list: " s.last-error))
  (publish! s))

(fn accept! [s f]
  (let [entries (merge f.entries)
        (text size) (chunks entries)
        old s.list]
    (if (= 0 (length entries)) (fail! s (.. "the list is empty" (if f.warning (.. " (" f.warning ")") "")))
        (> size list-budget) (fail! s (.. "the list takes " size " bytes, more than " list-budget))
        (do (set s.list {:chunks text :count (length entries) :refused f.refused :warning f.warning})
            (set (s.state s.last-error) (values :ok nil))
            (case (publish! s)
              (nil msg) (do (set s.list old) (fail! s (.. "unable to publish the list: " msg))))))))

(fn give-up! [f msg]
  ;; the fetch fails with msg: wget is killed, its exit finishes the fetch
  (when (not f.err)
    (set f.err msg)
    (upd.kill f.handle :KILL)))

(fn take-line! [s f line]
  (set f.lines (+ f.lines 1))
  (set f.bytes (+ f.bytes (length line) 1))
  ;; anchored patterns only: a line costs its length, whatever it holds
  (let [(word rest) (line:match "^%s*([^%s#]*)(.*)$")
        (e msg) (if (not (or (rest:match "^%s*$") (rest:match "^%s*#")))
                    (values nil "not an IPv4 or IPv6 address")
                    (not= word "") (parse-address word))
        p (and e (cuts-off e f.protected))]
    (if msg (give-up! f (string.format "line %d: %s: '%s'" f.lines msg
                                       (pick-values 1 (string.gsub (line:sub 1 60) "%c" "?"))))
        p (do (set f.refused (+ f.refused 1))
              (when (not f.warning)
                (set f.warning (string.format "line %d: %s refused: it overlaps %s"
                                              f.lines word (entry->text p)))))
        e (table.insert f.entries e))
    (if (> (length f.entries) s.max) (give-up! f (.. "more than " s.max " entries"))
        (> f.lines s.max-lines) (give-up! f (.. "more than " s.max-lines " lines"))
        (> f.bytes s.max-bytes) (give-up! f (.. "more than " s.max-bytes " bytes")))))

(fn finish! [s f status]
  (set s.fetch nil)
  (upd.cancel f.timer)
  (case (or f.err (when (not= status.code 0)
                    (.. "wget failed (" (if status.code (.. "code " status.code)
                                            (.. "signal " (tostring status.signal))) ")")))
    err (fail! s err)
    _ (accept! s f)))

(fn fetch! [s]
  (when (not s.fetch)
    (let [f {:entries [] :lines 0 :bytes 0 :refused 0 :protected (protected)}]
      (case (upd.spawn {:argv [s.wget "-q" "-T" "30" "-O" "-" s.url]
                        :on-line (fn [stream line]
                                   (if (not= stream :stdout) (upd.log :warn (.. "wget: " line))
                                       (not f.err) (take-line! s f line)))
                        :on-exit #(finish! s f $1)})
        (nil msg) (fail! s (.. "unable to run " s.wget ": " msg))
        h (do (set (s.fetch f.handle) (values f h))
              (set f.timer (upd.after s.deadline #(give-up! f (.. "no whole list within " s.deadline " s")))))))))

(fn new [url ?opts]
  (let [opts (or ?opts {})
        max (or opts.max 65536)]
    {: url :name (or opts.name (upd.service-name "blocklist"))
     :interval (or opts.interval 3600) :deadline (or opts.deadline 120) :wget (or opts.wget "wget")
     : max :max-lines (+ (* 2 max) 1024) :max-bytes (* 64 max)
     :state :starting}))

(fn start! [s]
  ;; collect a fetch's garbage as it is made: the peak then follows the
  ;; list, not twice it (about half, for a little more CPU)
  (collectgarbage "setpause" 100)
  (publish! s)
  (fetch! s)
  (upd.every s.interval #(fetch! s))
  (upd.ready) ; initialised and publishing (docs/services.md, "Readiness")
  s)

(local spec {:name "blocklist"
             :usage "blocklist URL [--interval SECS] [--deadline SECS] [--max N] [--name NAME] [--wget PATH]"
             :positional {:min 1 :max 1 :error "expected one URL"}
             :options {:interval args.positive :deadline args.positive :max args.positive
                       :name args.text :wget args.text}})

(fn parse-args [argv] (args.parse spec argv))

(fn main [argv]
  (let [(url opts) (args.parse-or-exit spec argv)]
    (start! (new url opts))
    (upd.run)))


{: main : new : start! : parse-args : parse-address : entry->text : cuts-off : merge : protected}
