-- fifo: lines written by other processes arrive; "quit" stops.
local core = require("upd.core")
local path = arg[1]
local id, err = core.fifo(path, function(line)
  print("fifo " .. line)
  io.stdout:flush()
  if line == "quit" then core.stop() end
end)
if not id then print("error " .. err) os.exit(1) end
local f = io.open(path .. ".notfifo", "w"); f:write("x"); f:close()
print("refuse " .. tostring(select(2, core.fifo(path .. ".notfifo", function() end))))
os.remove(path .. ".notfifo")
print("ready")
io.stdout:flush()
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
