-- Fault-injection service: spawns a daemon (`sleep 1000`) with upd.spawn,
-- publishes {daemon script started}, says it is ready. When the daemon dies
-- the script exits 1, so the supervisor restarts it (with backoff).
local upd = require("upd")
local name = upd["service-name"]("chaos")
local self = tonumber(io.open("/proc/self/stat"):read("*l"):match("^(%d+)"))
local h, err = upd.spawn({argv = {"sleep", "1000"},
  ["on-exit"] = function() upd.log("warn", "daemon died"); os.exit(1) end})
if not h then error("spawn: " .. tostring(err)) end
assert(upd.publish(name, {daemon = h.pid, script = self, started = upd.now()}))
upd.ready()
upd.run()
