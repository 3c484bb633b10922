-- Fault-injection: upd.read / upd.publish / upd.withdraw on a service whose
-- entry in the root was tampered with (arg 1). Prints "CASE op<TAB>result<TAB>msg".
local upd = require("upd")
local core = require("upd.core")
local name = arg[1]
local function run(op, f)
  local ok, r1, r2 = pcall(f)
  local result, msg
  if not ok then result, msg = "raised", tostring(r1)
  elseif r1 then result, msg = "ok", tostring(r2)
  else result, msg = "nil", tostring(r2) end
  io.stdout:write("CASE ", op, "\t", result, "\t", (msg:gsub("[\t\n]", " ")), "\n")
end
run("upd.read", function() return upd.read(name) end)
run("core.read", function() return core.read(name) end)
run("upd.publish", function() return upd.publish(name, {planted = "x"}) end)
run("upd.withdraw", function() return upd.withdraw(name) end)
