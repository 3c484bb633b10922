-- :notify true: the child (this binary running notify-child.lua) calls
-- ready(); we get on-ready before its on-exit.
local core = require("upd.core")
local dir = arg[0]:match("^(.*)/") or "."
core.spawn({argv = {core["self-exe"](), dir .. "/notify-child.lua"}, notify = true,
  ["on-ready"] = function() print("ready") end,
  ["on-line"] = function(_, l) print("child " .. l) end,
  ["on-exit"] = function(s) print("exit code " .. tostring(s.code)); core.stop() end})
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
