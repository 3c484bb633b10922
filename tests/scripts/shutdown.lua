-- When the loop ends, live children are terminated and reaped: one exits on
-- SIGTERM, one ignores it and gets SIGKILL after the grace period.
local core = require("upd.core")
local a = core.spawn({argv = {"sleep", "30"}})
local b = core.spawn({argv = {"sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"},
  ["on-line"] = function() core.stop() end})
print("children " .. a.pid .. " " .. b.pid)
io.stdout:flush()
core.run()
print("returned")
