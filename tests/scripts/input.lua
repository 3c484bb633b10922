-- input: a child's stdin as a pipe we write (`:input true`), its stdout as
-- bytes (`:output "bytes"`): binary data comes back whole, a full pipe takes
-- less than offered, and a write to a child without the pipe or gone fails.
local core = require("upd.core")
local got = {}
local data = "\0\1\n\255binary\r\n" .. string.rep("x", 5000)
local h
h = core.spawn({argv = {"cat"}, input = true, output = "bytes",
  ["on-line"] = function(stream, chunk)
    if stream == "stdout" then
      got[#got + 1] = chunk
      local all = table.concat(got)
      if #all == #data then
        print("echoed " .. tostring(all == data) .. " in " .. #got .. " chunks")
        -- cat stops reading: fill its pipe until a write takes less.
        core.kill(h, "STOP")
        local big, total, short = string.rep("y", 65536), 0, false
        for _ = 1, 8 do
          local n = core.write(h, big)
          total = total + n
          if n < #big then short = true; break end
        end
        print("full-pipe short " .. tostring(short) .. " total<=1MiB " .. tostring(total <= 1048576))
        core.kill(h, "KILL")
      end
    end
  end,
  ["on-exit"] = function()
    local n, msg = core.write(h, "late")
    print("after-exit " .. tostring(n) .. " " .. tostring(msg))
    core.stop()
  end})
print("wrote " .. tostring(core.write(h, data) == #data))
local plain = core.spawn({argv = {"true"}})
local n, msg = core.write(plain, "x")
print("no-pipe " .. tostring(n) .. " " .. tostring(msg))
local ok, err = pcall(core.spawn, {argv = {"true"}, output = "words"})
print("bad-output " .. tostring(ok) .. " " .. tostring(err))
core.after(10, function() print("TIMEOUT"); core.stop() end)
core.run()
