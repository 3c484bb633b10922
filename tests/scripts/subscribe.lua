-- subscribe: N subscribers to one service; each prints what it sees; the
-- script stops when every subscriber saw `value` = arg[2] (or the service
-- vanished, when arg[2] is "gone"). arg[4]: give up after that many seconds.
local core = require("upd.core")
local name, final, n = arg[1], arg[2], tonumber(arg[3] or "1")
local seen = {}
local calls = 0
local function check()
  for i = 1, n do if seen[i] ~= final then return end end
  core.stop()
end
for i = 1, n do
  local id, err = core.subscribe(name, function(tree, changed)
    calls = calls + 1
    local v = tree and tree.value or "gone"
    if n == 1 then print("sub " .. v .. " changed " .. table.concat(changed, ",")) io.stdout:flush() end
    seen[i] = v
    -- arg[5]: stall this long in the first call (a busy script), so that
    -- publishes pile up meanwhile.
    if calls == 1 and arg[5] then
      print("stalling") io.stdout:flush()
      local t = core.now() + tonumber(arg[5])
      while core.now() < t do end
    end
    check()
  end)
  if not id then print("error " .. err) os.exit(1) end
end
print("bad-name " .. tostring(select(2, core.subscribe("a/b", function() end))))
print("subscribed")
io.stdout:flush()
core.after(tonumber(arg[4] or "20"), function()
  local last = {}
  for i = 1, n do last[i] = tostring(seen[i]) end
  print("TIMEOUT seen " .. table.concat(last, ","))
  core.stop()
end)
core.run()
print("calls " .. calls)
