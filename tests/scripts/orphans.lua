-- A double-forking child: its orphan is re-parented to us (subreaper) and
-- reaped silently when it ends. Prints our pid; the test inspects /proc.
local core = require("upd.core")
local f = io.open("/proc/self/stat"); local me = f:read("*a"):match("^(%d+)"); f:close()
core.spawn({argv = {"sh", "-c", "(sleep 1 &) ; exit 0"},
  ["on-exit"] = function(s) print("parent-exit code " .. tostring(s.code)) end})
print("pid " .. me)
io.stdout:flush()
core.after(3, function() core.stop() end)
core.run()
print("done")
