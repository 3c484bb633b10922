-- Fault-injection service: subscribes to the service named by arg 1 (default
-- "ping") and publishes {value = its value, at = upd.now()}: the
-- publish -> subscriber -> publish reaction the runner times.
local upd = require("upd")
local name = upd["service-name"]("echo")
local src = arg[1] or "ping"
assert(upd.publish(name, {value = "none"}))
upd.subscribe(src, function(tree)
  local ok, err = upd.publish(name, {value = (tree and tree.value) or "gone", at = upd.now()})
  if not ok then upd.log("err", "publish: " .. tostring(err)) end
end)
upd.ready()
upd.run()
