-- parent.lua (big-endian router, scenario pid1): a service whose child
-- outlives it. Spawns `betool sleep 8` and publishes the child's pid; the
-- scenario then kills this script, orphaning the child.
local upd = require("upd")
local h = assert(upd.spawn({argv = {"/bin/betool", "sleep", "8"}}))
upd.publish(upd["service-name"]("parent"), {child = h.pid})
upd.run()
