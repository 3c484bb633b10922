-- Fault-injection service: writes lines to stdout as fast as it can, forever.
local upd = require("upd")
assert(upd.publish(upd["service-name"]("flood"), {flooding = true}))
local line = ("flood-line "):rep(9)
local n = 0
while true do
  n = n + 1
  io.stdout:write(line, n, "\n")
end
