-- Fault-injection service: publishes {up = yes, script = its pid}, says it
-- is ready and waits. With the argument `ignore-term` it has a TERM handler
-- of its own that does nothing (a script that will not stop when asked).
local upd = require("upd")
local name = upd["service-name"]("steady")
local self = tonumber(io.open("/proc/self/stat"):read("*l"):match("^(%d+)"))
if arg[1] == "ignore-term" then
  upd["on-signal"]("TERM", function() upd.log("info", "TERM ignored") end)
end
assert(upd.publish(name, {up = true, script = self}))
upd.ready()
upd.run()
