-- Fault-injection: fills the state filesystem. `fill` publishes service "big"
-- with 1, 2, 3, ... values of 4 KiB each (value i is ("%d:" .. i) repeated)
-- until a publish fails, then prints "fail K MSG" (K: the size that failed)
-- and "kept K-1". `retry K` publishes the size-K tree once more and prints
-- "ok K" or "fail K MSG".
local upd = require("upd")
local function tree(k)
  local t = {}
  for i = 1, k do t["v" .. i] = (("%d:"):format(i) .. ("x"):rep(4093)):sub(1, 4096) end
  return t
end
local mode, k = arg[1], tonumber(arg[2] or "0")
if mode == "retry" then
  local ok, err = upd.publish("big", tree(k))
  print(ok and ("ok " .. k) or ("fail " .. k .. " " .. tostring(err)))
  os.exit(0)
end
for i = 1, 10000 do
  local ok, err, extra = upd.publish("big", tree(i))
  if not ok then
    print("fail " .. i .. " " .. tostring(err) .. (extra and (" EXTRA " .. tostring(extra)) or ""))
    print("kept " .. (i - 1))
    os.exit(0)
  end
end
print("never-failed")
