-- `output = "inherit"`: the child writes straight to our stdout and stderr
-- (nothing is read or relayed by the loop); its exit is still reported.
local core = require("upd.core")
core.spawn({argv = {"sh", "-c", "echo child-out; echo child-err >&2; exit 3"},
  output = "inherit",
  ["on-line"] = function(_, line) print("RELAYED " .. line) end,
  ["on-exit"] = function(st) print("exit " .. tostring(st.code)); core.stop() end})
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
local ok, err = pcall(core.spawn, {argv = {"true"}, output = "bogus"})
print(ok, (tostring(err):match("spec%.output[^\n]*")))
