-- Fault injection into the supervisor itself: `upd run` (upd.supervisor)
-- with upd.spawn replaced by one that raises for the service "boom" and, on
-- the first USR1, one that raises in every callback of the next step.
-- The supervisor must log `internal error`, go on, and supervise the rest.
local upd = require("upd")
local spawn = upd.spawn
upd.spawn = function(spec)
  if spec.env and spec.env.UPD_SERVICE == "boom" then error("injected fault in spawn") end
  return spawn(spec)
end
local publish = upd.publish
local armed = false
upd["on-signal"]("USR1", function() armed = true end)
upd.publish = function(name, ...)
  if armed and name == "upd" then armed = false; error("injected fault in publish") end
  return publish(name, ...)
end
local ok, msg = require("upd.supervisor").run(arg[1])
if not ok then io.stderr:write("upd: run: " .. tostring(msg) .. "\n"); os.exit(1) end
