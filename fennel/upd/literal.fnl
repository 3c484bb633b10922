;; upd.literal: a reader for Fennel literal data (sequences, tables, strings,
;; :keywords, numbers, true/false/nil, comments), for the services file.
;; The supervisor reads its file with this instead of the Fennel compiler: the
;; compiler costs 1.3 MB of heap that the supervisor, which runs for ever,
;; would otherwise keep. Tables carry their line in a metatable {:line N};
;; errors are raised as {:msg "FILE:LINE: message"}.

(fn fail [file line msg]
  (error {:msg (.. file ":" line ": " msg)}))

(local delimiters {"[" "]" "{" "}" "(" ")"})
(local escapes {:n "\n" :t "\t" :r "\r" :a "\a" :b "\b" :f "\f" :v "\v"
                "\\" "\\" "\"" "\"" "'" "'" "\n" "\n"})

(fn reader [text file]
  (var pos 1)
  (var line 1)
  (fn peek [] (text:sub pos pos))
  (fn skip-blank! []
    (var done? false)
    (while (not done?)
      (let [c (peek)]
        (if (= c "\n") (do (set line (+ line 1)) (set pos (+ pos 1)))
            (c:find "^[ \t\r\f\v,]") (set pos (+ pos 1))
            (= c ";") (set pos (or (text:find "\n" pos true) (+ (# text) 1)))
            (set done? true)))))
  (fn read-string []
    (let [start line
          out []]
      (set pos (+ pos 1))
      (var done? false)
      (while (not done?)
        (let [c (peek)]
          (if (= c "") (fail file start "unterminated string")
              (= c "\"") (do (set pos (+ pos 1)) (set done? true))
              (= c "\\")
              (let [e (text:sub (+ pos 1) (+ pos 1))
                    digits (text:match "^%d%d?%d?" (+ pos 1))]
                (if (. escapes e)
                    (do (when (= e "\n") (set line (+ line 1)))
                        (table.insert out (. escapes e)) (set pos (+ pos 2)))
                    (and digits (<= (tonumber digits) 255))
                    (do (table.insert out (string.char (tonumber digits)))
                        (set pos (+ pos 1 (# digits))))
                    (fail file line (.. "invalid escape \\" e " in a string"))))
              (do (when (= c "\n") (set line (+ line 1)))
                  (table.insert out c) (set pos (+ pos 1))))))
      (table.concat out)))
  (var read-form nil)
  (fn read-until [close]
    (let [items []]
      (set pos (+ pos 1))
      (var done? false)
      (while (not done?)
        (skip-blank!)
        (let [c (peek)]
          (if (= c "") (fail file line (.. "expected closing delimiter " close))
              (= c close) (do (set pos (+ pos 1)) (set done? true))
              (table.insert items (read-form)))))
      items))
  (set read-form
       (fn []
         (let [c (peek)
               at line]
           (if (= c "[")
               (let [items (read-until "]")
                     out {}]
                 (each [i v (ipairs items)] (tset out i v.value))
                 {:value (setmetatable out {:line at})})
               (= c "{")
               (let [items (read-until "}")
                     out {}]
                 (when (not= 0 (% (# items) 2))
                   (fail file at "a table needs a value for every key"))
                 (for [i 1 (# items) 2]
                   (let [k (. items i :value)]
                     (when (= k nil) (fail file at "a table key cannot be nil"))
                     (tset out k (. items (+ i 1) :value))))
                 {:value (setmetatable out {:line at})})
               (= c "(")
               (fail file at "code is not allowed in a services file (only literal data)")
               (or (= c "]") (= c "}") (= c ")"))
               (fail file at (.. "unexpected closing delimiter " c))
               (= c "\"") {:value (read-string)}
               (let [token (text:match "^[^%s%[%]{}()\";,]+" pos)]
                 (set pos (+ pos (# token)))
                 (if (= token "true") {:value true}
                     (= token "false") {:value false}
                     (= token "nil") {:value nil}
                     (and (= (token:sub 1 1) ":") (> (# token) 1)) {:value (token:sub 2)}
                     (tonumber token) {:value (tonumber token)}
                     (fail file at (.. "unexpected symbol " token
                                       " (a services file holds only literal data)"))))))))
  (fn read-all []
    (let [forms []]
      (skip-blank!)
      (while (not= (peek) "")
        (table.insert forms {:line line :form (read-form)})
        (skip-blank!))
      forms))
  read-all)

(fn read [text file]
  "TEXT as a sequence of {:line N :form {:value V}}, one per top-level form."
  ((reader text file)))

{: read}
