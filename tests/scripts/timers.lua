-- Timers fire in due order; `every` repeats; `cancel` stops one; step(timeout) returns.
local core = require("upd.core")
local order = {}
local t0 = core.now()
core.after(0.3, function() order[#order + 1] = "c" end)
core.after(0.1, function() order[#order + 1] = "a" end)
core.after(0.2, function() order[#order + 1] = "b" end)
local dead = core.after(0.15, function() order[#order + 1] = "cancelled" end)
core.cancel(dead)
local ticks = 0
local every
every = core.every(0.05, function()
  ticks = ticks + 1
  if ticks == 3 then core.cancel(every) end
end)
core.after(0.4, function() core.stop() end)
core.run()
local elapsed = core.now() - t0
print("order " .. table.concat(order, ","))
print("ticks " .. ticks)
print(string.format("elapsed %.2f", elapsed))
-- step with a timeout and nothing to do returns after the timeout
