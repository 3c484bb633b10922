-- Fault-injection subscriber: subscribes to service arg 1 and prints
-- "value V" (flushed) for every snapshot its handler gets ("gone" when
-- withdrawn). A failed subscribe prints "subscribe-failed MSG" and exits 3.
local upd = require("upd")
local name = arg[1] or "flood"
local ok, id, err = pcall(upd.subscribe, name, function(tree)
  io.stdout:write("value ", tostring(tree and tree.value or "gone"), "\n")
  io.stdout:flush()
end)
if not ok then
  io.stdout:write("subscribe-raised ", (tostring(id):gsub("\n.*", "")), "\n") io.stdout:flush()
  os.exit(4)
end
if not id then
  io.stdout:write("subscribe-failed ", tostring(err), "\n") io.stdout:flush()
  os.exit(3)
end
io.stdout:write("subscribed\n") io.stdout:flush()
upd.run()
