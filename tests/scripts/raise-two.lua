-- Two children exit before the loop looks (the script busy-waits, so one
-- wake reaps both); the first on-exit to run raises. Both must run, and the
-- step raises afterwards. A timer due in the same step runs too.
local core = require("upd.core")
local calls, timer = 0, false
for _ = 1, 2 do
  core.spawn({argv = {"true"}, ["on-exit"] = function()
    calls = calls + 1
    if calls == 1 then error("boom in the first on-exit") end
  end})
end
core.after(0, function() timer = true end)
local t0 = os.clock()
while os.clock() - t0 < 0.3 do end
local deadline = core.now() + 5
local ok, err
while calls < 2 and core.now() < deadline do
  ok, err = pcall(core.step, 0.5)
  if not ok then print("raised " .. tostring(err):match("boom in the first on%-exit")) end
end
print("calls " .. calls)
print("timer " .. tostring(timer))
