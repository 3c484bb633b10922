-- Prints the pid of a child daemon and waits to be SIGKILLed.
local core = require("upd.core")
local h = core.spawn({argv = {"sleep", "30"}})
print("child " .. h.pid)
io.stdout:flush()
core.after(20, function() core.stop() end)
core.run()
