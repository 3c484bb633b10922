;; ipv6: IPv6 text <-> 8 groups of 16 bits, prefixes and LAN subnets.
;; Pure; shared by odhcp6c (validating odhcp6c's variables), lan (the
;; LAN's /64 inside a delegated prefix) and blocklist (its entries are bytes).

(fn hex-groups [text]
  ;; "a:b:c" -> [10 11 12]; "" -> []; nil on a bad group
  (if (= text "") []
      (let [out []]
        (var ok? true)
        (each [g (string.gmatch (.. text ":") "([^:]*):")]
          (if (g:match "^%x%x?%x?%x?$") (table.insert out (tonumber g 16)) (set ok? false)))
        (when ok? out))))

(fn dotted->hex [text]
  ;; "::ffff:192.0.2.1" -> "::ffff:c000:201" (inet_ntop writes v4-mapped so)
  (case (text:match "^(.*:)(%d+%.%d+%.%d+%.%d+)$")
    (head quad) (let [b (icollect [d (quad:gmatch "%d+")] (tonumber d))]
                  (when (accumulate [ok true _ x (ipairs b)] (and ok (<= x 255)))
                    (string.format "%s%x:%x" head (+ (* 256 (. b 1)) (. b 2))
                                   (+ (* 256 (. b 3)) (. b 4)))))
    _ text))

(fn ->groups [text]
  ;; -> 8 integers, or nil when TEXT is not an IPv6 address
  (when (and (= (type text) :string) (text:match "^[%x:%.]+$") (text:find ":" 1 true))
    (case (dotted->hex text)
      t (case (t:find "::" 1 true)
          nil (case (hex-groups t) (where g (= 8 (length g))) g)
          at (let [head (t:sub 1 (- at 1))
                   tail (t:sub (+ at 2))]
               (case [(hex-groups head) (hex-groups tail)]
                 (where [h tl] (< (+ (length h) (length tl)) 8))
                 (let [g h]
                   (for [_ 1 (- 8 (length h) (length tl))] (table.insert g 0))
                   (each [_ x (ipairs tl)] (table.insert g x))
                   g)))))))

(fn groups->text [g]
  ;; RFC 5952: lowercase, the longest run of two or more zero groups is ::
  (var (best-at best-len run-at run-len) (values nil 0 nil 0))
  (for [i 1 8]
    (if (= 0 (. g i))
        (do (when (= run-len 0) (set run-at i))
            (set run-len (+ run-len 1))
            (when (> run-len best-len) (set (best-at best-len) (values run-at run-len))))
        (set run-len 0)))
  (let [hex (fn [from to] (table.concat (fcollect [i from to] (string.format "%x" (. g i))) ":"))]
    (if (< best-len 2) (hex 1 8)
        (.. (hex 1 (- best-at 1)) "::" (hex (+ best-at best-len) 8)))))

(fn groups->bytes [g]
  ;; 8 groups -> the 16 bytes, network order
  (table.concat (icollect [_ x (ipairs g)] (string.char (math.floor (/ x 256)) (% x 256)))))

(fn bytes->groups [b] (fcollect [i 1 15 2] (+ (* 256 (b:byte i)) (b:byte (+ i 1)))))

(fn mask [g len]
  (fcollect [i 1 8]
    (let [keep (math.max 0 (math.min 16 (- len (* 16 (- i 1)))))
          unit (^ 2 (- 16 keep))]
      (* unit (math.floor (/ (. g i) unit))))))

(fn prefix [address len]
  ;; the prefix of ADDRESS/LEN as text ("2001:db8:1:2::5", 48 -> "2001:db8:1::")
  (case (->groups address)
    g (groups->text (mask g len))))

(fn subnet-address [prefix-text len subnet host]
  ;; The address HOST (an integer < 2^16) in /64 number SUBNET of
  ;; PREFIX-TEXT/LEN: ("2001:db8:1200::", 56, 3, 1) -> "2001:db8:1200:3::1".
  ;; -> address text, the /64's prefix text; or nil, msg
  (let [g (->groups prefix-text)
        room (- 64 len)]
    (if (not g) (values nil (.. "not an IPv6 prefix: " (tostring prefix-text)))
        (< room 0) (values nil (.. "prefix /" len " is longer than /64: no LAN subnet fits"))
        (>= subnet (^ 2 room))
        (values nil (.. "subnet " subnet " does not fit in a /" len " (at most " (- (^ 2 room) 1) ")"))
        (let [out (mask g len)]
          (var rest subnet)
          (for [i 4 1 -1]
            (tset out i (+ (. out i) (% rest 65536)))
            (set rest (math.floor (/ rest 65536))))
          (for [i 5 8] (tset out i 0))
          (let [net (groups->text out)]
            (tset out 8 host)
            (values (groups->text out) net))))))

{: ->groups : groups->text : groups->bytes : bytes->groups : prefix : subnet-address}
