-- A memory spike, then a full collection: what stays resident?
-- Prints "peak-kib live-kib rss-anon-kib" (RssAnon from /proc/self/status:
-- the heap, not the binary). Plain Lua 5.1: lua5.1 runs it too (bench row 7).
local function rss_anon()
  local f = io.open("/proc/self/status")
  if not f then return -1 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("RssAnon:%s*(%d+)")) or -1
end

local scale = tonumber(arg and arg[1]) or 1
local n = math.floor(1e6 * scale)
local keep = {}
do
  -- Big tables: an array part, a hash part, small tables in them.
  local a, h, t = {}, {}, {}
  for i = 1, n do a[i] = i * 0.5 end
  for i = 1, n do h["k" .. i] = i end
  for i = 1, n / 4 do t[i] = {i, tostring(i)} end
  -- Strings around 2 KiB, most dropped again (churn).
  local s = {}
  for i = 1, n / 20 do
    s[i % 5000 + 1] = string.rep(string.char(65 + i % 26), 1900 + i % 300)
  end
  -- A weak table whose entries go with the collection.
  local w = setmetatable({}, {__mode = "v"})
  for i = 1, n / 10 do w[i] = {i} end
  for i = 1, 100 do keep[i] = t[i * 100] end
  a, h, t, s, w = nil, nil, nil, nil, nil
end
local peak = rss_anon()
collectgarbage()
collectgarbage()
print(peak, math.floor(collectgarbage("count")), rss_anon())
