-- An idle loop: no timers, nothing to read. The test counts our context
-- switches, then sends SIGTERM (the default handler stops the loop).
local core = require("upd.core")
core.subscribe("idle-test-nothing", function() end)
print("idle")
io.stdout:flush()
core.run()
print("stopped")
