(local t (require :upd.test))
(local policy (require :upd.policy))
(local s (t.suite "policy"))

(fn exits [st times]
  (icollect [_ [start stop] (ipairs times)]
    (do (policy.on-start st start) (policy.on-exit st stop))))

(s:test "delay doubles from initial after each short run"
        #(let [st (policy.new {:initial 1 :max 60 :healthy-after 10})]
           (t.is= [1 2 4 8] (exits st [[0 1] [2 3] [5 6] [10 11]]))))

(s:test "delay is capped at max"
        #(let [st (policy.new {:initial 1 :max 5 :healthy-after 100})]
           (t.is= [1 2 4 5 5] (exits st [[0 0] [1 1] [3 3] [7 7] [12 12]]))))

(s:test "a run of healthy-after seconds resets the delay"
        #(let [st (policy.new {:initial 1 :max 60 :healthy-after 10})]
           (t.is= [1 2 4] (exits st [[0 1] [2 3] [5 6]]))
           (t.is= [1 2] (exits st [[10 20] [21 22]]))))

(s:test "a run just short of healthy-after does not reset"
        #(let [st (policy.new {:initial 1 :max 60 :healthy-after 10})]
           (t.is= [1 2 4] (exits st [[0 1] [2 3] [5 14.9]]))))

(s:test "on-healthy resets; next-start and due? follow the delay"
        #(let [st (policy.new {:initial 2 :max 60})]
           (t.is (policy.due? st 0) "nothing pending at first")
           (exits st [[0 1] [3 4]])
           (t.is= 8 (policy.next-start st))
           (t.is (not (policy.due? st 7.9)))
           (t.is (policy.due? st 8))
           (policy.on-healthy st)
           (t.is= 2 (policy.delay st))
           (policy.on-start st 9)
           (t.is= nil (policy.next-start st))))

(s:test "bad options are refused with a message naming the key"
        #(do (t.raises #(policy.new {:initial 0}) ":initial")
             (t.raises #(policy.new {:initial 4 :max 2}) ":max")))

(s:done)
