-- A child writing N lines of 100 bytes plus one 5000-byte line: every line
-- arrives (the long one cut), and memory does not grow with the volume.
local core = require("upd.core")
local n = tonumber(arg[1] or "2048")
local function rss()
  for l in io.lines("/proc/self/status") do
    local kb = l:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end
collectgarbage("collect")
local before = rss()
local lines, longest, bytes = 0, 0, 0
local script = "head -c 5000 /dev/zero | tr '\\0' y; echo; yes \"$(printf '%099d' 0)\" | head -n " .. n
core.spawn({argv = {"sh", "-c", script},
  ["on-line"] = function(_, line)
    lines = lines + 1
    bytes = bytes + #line + 1
    if #line > longest then longest = #line end
  end,
  ["on-exit"] = function() core.stop() end})
core.after(60, function() print("TIMEOUT"); core.stop() end)
core.run()
collectgarbage("collect")
print("lines " .. lines)
print("longest " .. longest)
print("bytes " .. bytes)
print("rss-growth-kb " .. (rss() - before))
