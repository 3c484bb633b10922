-- Fault-injection service: publishes, then spins the CPU forever (no yield to the loop).
local upd = require("upd")
assert(upd.publish(upd["service-name"]("spin"), {spinning = true}))
local x = 0
while true do x = x + 1 end
