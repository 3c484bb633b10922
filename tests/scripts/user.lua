-- :user drops privileges (the primary group comes from /etc/passwd, and
-- supplementary groups are dropped); an unknown group is an error naming it.
local core = require("upd.core")
core.spawn({argv = {"sh", "-c", "echo ids $(id -u) $(id -g); echo groups $(id -G)"}, user = "nobody",
  ["on-line"] = function(_, line)
    if line:match("^ids") then print(line) end
    if line:match("^groups") then
      print("groups-dropped " .. tostring(not line:match(" 0$") and not line:match(" 0 ")))
    end
  end,
  ["on-exit"] = function() core.stop() end})
print("bad " .. table.concat({tostring(select(1, core.spawn({argv = {"id"}, group = "no-such-group-upd"}))),
  select(2, core.spawn({argv = {"id"}, group = "no-such-group-upd"}))}, " "))
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
