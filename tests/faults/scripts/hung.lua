-- Fault-injection service: a hung script with a daemon that ignores TERM.
-- The daemon is `sleep 999` started by a shell that ignores TERM (the
-- disposition survives the exec); the script ignores TERM too, so stopping
-- it takes the KILL after its stop timeout.
local upd = require("upd")
local name = upd["service-name"]("hung")
local self = tonumber(io.open("/proc/self/stat"):read("*l"):match("^(%d+)"))
local h = assert(upd.spawn({argv = {"sh", "-c", "trap '' TERM; exec sleep 999"},
  ["on-exit"] = function() end}))
upd["on-signal"]("TERM", function() end)
assert(upd.publish(name, {up = true, script = self, daemon = h.pid}))
upd.ready()
upd.run()
