-- kill: a named signal to the process group; on-exit reports it.
local core = require("upd.core")
local h
h = core.spawn({argv = {"sh", "-c", "echo up; exec sleep 30"},
  ["on-line"] = function() print("kill " .. tostring(core.kill(h, "HUP"))) end,
  ["on-exit"] = function(s) print("exit signal " .. tostring(s.signal)); core.stop() end})
local ok, err = pcall(core.kill, h, "NOPE")
print("bad-signal " .. tostring(ok) .. " " .. tostring(err))
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
