-- spawn: lines from stdout and stderr, exit code, death by signal, exec
-- failure, env/cwd, and running? before and after the reap.
local core = require("upd.core")
local pending = 0
local function done() pending = pending - 1; if pending == 0 then core.stop() end end
local function status_text(s) return s.code and ("code " .. s.code) or ("signal " .. s.signal) end

pending = pending + 1
local h
h = core.spawn({argv = {"sh", "-c", "echo out1; echo err1 >&2; printf 'no-newline'; exit 3"},
  ["on-line"] = function(stream, line) print("line " .. stream .. " " .. line) end,
  ["on-exit"] = function(s)
    print("exit1 " .. status_text(s) .. " pid-matches " .. tostring(s.pid == h.pid))
    print("running-after " .. tostring(core["running?"](h)))
    done()
  end})
print("running-before " .. tostring(core["running?"](h)))

pending = pending + 1
core.spawn({argv = {"sh", "-c", "kill -KILL $$"},
  ["on-exit"] = function(s) print("exit2 " .. status_text(s)); done() end})

pending = pending + 1
core.spawn({argv = {"sh", "-c", "echo \"$GREETING from $(pwd)\""}, env = {GREETING = "hi"}, cwd = "/tmp",
  ["on-line"] = function(_, line) print("env " .. line) end,
  ["on-exit"] = function() done() end})

local nope, msg = core.spawn({argv = {"upd-no-such-program"}})
print("missing " .. tostring(nope) .. " " .. msg)
local ok, err = pcall(core.spawn, {argv = {}})
print("empty-argv " .. tostring(ok) .. " " .. tostring(err))

core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
