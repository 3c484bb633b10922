-- Fault-injection service run as an unprivileged :user: publishes its own
-- tree, then tries to write trees that are not its own, and publishes what
-- each attempt returned (`ok` or the message) in its tree.
local upd = require("upd")
local name = upd["service-name"]("unpriv")
local key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGV2aWxldmlsZXZpbGV2aWxldmlsZXZpbGV2aWw evil@squatter"
local function try(ok, err) return ok and "ok" or tostring(err) end
local results = {up = true}
assert(upd.publish(name, results))
results.peer = try(upd.publish("peer", {up = "forged"}))
results["peer-withdraw"] = try(upd.withdraw("peer"))
results.keys = try(upd.publish("ssh-keys", {k = key}))
results.upd = try(upd.publish("upd", {services = {}}))
-- an unclaimed name: allowed (the root is group-writable for services),
-- but nobody who trusts by owner will take it as root's
results.squat = try(upd.publish("fake-keys", {k = key}))
assert(upd.publish(name, results))
upd.ready()
upd.run()
