-- Fault-injection publisher: publishes service arg 1 as {value = i} for
-- i = 1 .. arg 2, plus arg 3 (default 0) other services once each (more
-- inotify events); prints "published N".
local upd = require("upd")
local name, n, others = arg[1], tonumber(arg[2]), tonumber(arg[3] or "0")
for i = 1, n do assert(upd.publish(name, {value = i})) end
for j = 1, others do assert(upd.publish("other-" .. j, {value = j})) end
print("published " .. n)
