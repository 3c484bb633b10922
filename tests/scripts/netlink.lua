-- on-netlink: prints link and address events for interfaces named upd*;
-- stops when the address 10.9.8.7 is added.
local core = require("upd.core")
local ok, err = core["on-netlink"](function(ev)
  if not (ev.ifname or ""):match("^upd") then return end
  if ev.kind == "link" then
    print("link " .. ev.ifname .. " up " .. tostring(ev.up))
  else
    print("address " .. tostring(ev.action) .. " " .. ev.ifname .. " " .. tostring(ev.address) .. "/" .. tostring(ev.length))
    if ev.address == "10.9.8.7" then core.stop() end
  end
  io.stdout:flush()
end)
if not ok then print("error " .. tostring(err)) os.exit(1) end
print("ready")
io.stdout:flush()
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
