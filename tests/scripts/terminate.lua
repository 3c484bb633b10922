-- terminate: a child ignoring SIGTERM gets SIGKILL after the timeout.
local core = require("upd.core")
local t0
local h
h = core.spawn({argv = {"sh", "-c", "trap '' TERM; echo started; while :; do sleep 0.05; done"},
  ["on-line"] = function(_, line)
    if line == "started" then
      t0 = core.now()
      print("terminate " .. tostring(core.terminate(h, 0.5)))
    end
  end,
  ["on-exit"] = function(s)
    print("exit signal " .. tostring(s.signal))
    print(string.format("after %.1f", core.now() - t0))
    core.stop()
  end})
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
