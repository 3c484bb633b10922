;; upd.literal reads what a services file may hold, as Fennel would, and names
;; the line of anything else.
(local t (require :upd.test))
(local literal (require :upd.literal))
(local fennel (require :fennel))
(local s (t.suite "literal"))

(fn read1 [text] (. (literal.read text "f.fnl") 1 :form :value))

(fn err [text]
  (let [(ok? e) (pcall literal.read text "f.fnl")]
    (t.is (not ok?) (.. "no error for " text))
    e.msg))

(s:test "the same data as Fennel's own reader, for a services file"
        #(let [text "; services\n[{:name \"eth0\" :script :netdev :args [\"eth0\" \"--counters\" 10]}\n {:name \"p\" :script \"pppoe\" :private true :env {:A \"x\\ty\\\\z\\\"\"} :stop-timeout 2.5 :n -3 :none nil :f false}]\n"
               mine (read1 text)
               (_ theirs) ((fennel.parser text))]
           (t.is= (fennel.eval (fennel.view theirs)) mine)))

(s:test "tables carry their line"
        #(let [v (read1 "[\n{:a 1}\n\n{:b 2}]")]
           (t.is= 1 (. (getmetatable v) :line))
           (t.is= 2 (. (getmetatable (. v 1)) :line))
           (t.is= 4 (. (getmetatable (. v 2)) :line))))

(s:test "escapes (Lua 5.1's), decimal bytes, strings over several lines"
        #(do (t.is= "a\nb\tc\65" (read1 "\"a\\nb\\tc\\65\""))
             (t.is= "one\ntwo" (read1 "\"one\ntwo\""))
             (t.is= 3 (. (literal.read "\"x\ny\"\n[]" "f.fnl") 2 :line))))

(s:test "anything but literal data is an error naming its line"
        #(do (t.is= "f.fnl:2: code is not allowed in a services file (only literal data)"
                    (err "[\n(os.exit 1)]"))
             (t.is= "f.fnl:1: unexpected symbol os.exit (a services file holds only literal data)"
                    (err "[os.exit]"))
             (t.is= "f.fnl:3: unexpected closing delimiter }" (err "[\n\n}"))
             (t.is= "f.fnl:1: unterminated string" (err "[\"abc\n"))
             (t.is= "f.fnl:2: expected closing delimiter ]" (err "[{:a 1}\n"))
             (t.is= "f.fnl:1: a table needs a value for every key" (err "{:a}"))
             (t.is= "f.fnl:1: invalid escape \\q in a string" (err "\"\\q\""))
             (t.is= "f.fnl:1: invalid escape \\x in a string" (err "\"\\x41\""))))

(s:done)
