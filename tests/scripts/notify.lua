-- :notify true: the child (this binary running notify-child.lua) calls
-- ready(); we get on-ready before its on-exit.
local core = require("upd.core")
local dir = arg[0]:match("^(.*)/") or "."
-- Under qemu-user the tests name the emulator this binary needs to exec
-- itself (tests/common/mod.rs): it cannot be exec'd directly there.
local argv = {}
for w in (os.getenv("UPD_TEST_RUNNER") or ""):gmatch("%S+") do argv[#argv + 1] = w end
argv[#argv + 1] = core["self-exe"]()
argv[#argv + 1] = dir .. "/notify-child.lua"
core.spawn({argv = argv, notify = true,
  ["on-ready"] = function() print("ready") end,
  ["on-line"] = function(_, l) print("child " .. l) end,
  ["on-exit"] = function(s) print("exit code " .. tostring(s.code)); core.stop() end})
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
