-- A callback raises: the launcher prints the traceback and calls os.exit(1);
-- the children must still be terminated and reaped (one ignores SIGTERM).
local core = require("upd.core")
local a = core.spawn({argv = {"sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"},
  ["on-line"] = function() error("boom in a callback") end})
print("child " .. a.pid)
io.stdout:flush()
core.run()
