local core = require("upd.core")
core.log("warn", "hello from log")
print("ready " .. tostring(core.ready()))
print(pcall(core.log, "loud", "x"))
