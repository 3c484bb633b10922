-- unix-request: a reply, a missing socket, and a server that never answers.
local core = require("upd.core")
local sock, silent = arg[1], arg[2]
local left = 3
local function done() left = left - 1; if left == 0 then core.stop() end end
core["unix-request"](sock, "ping\n", function(reply, err) print("reply " .. tostring(reply) .. " " .. tostring(err)); done() end)
core["unix-request"]("/nonexistent/upd.sock", "x", function(reply, err) print("missing " .. tostring(reply) .. " " .. tostring(err)); done() end)
core["unix-request"](silent, "x", 0.3, function(reply, err) print("silent " .. tostring(reply) .. " " .. tostring(err)); done() end)
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
