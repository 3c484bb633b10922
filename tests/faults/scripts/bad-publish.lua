-- Fault-injection: upd.publish / upd.read / upd.withdraw with bad names,
-- keys and values. Prints one line per case: "CASE NAME<TAB>RESULT<TAB>MSG",
-- RESULT being ok (returned true), nil (returned nil, msg) or raised.
local upd = require("upd")
local function run(name, f)
  local ok, r1, r2 = pcall(f)
  local result, msg
  if not ok then result, msg = "raised", tostring(r1)
  elseif r1 then result, msg = "ok", tostring(r2)
  else result, msg = "nil", tostring(r2) end
  msg = msg:gsub("\t", " "):gsub("\n", "\\n")
  io.stdout:write("CASE ", name, "\t", result, "\t", msg, "\n")
end
local function pub(t, name) return function() return upd.publish(name or "bi", t) end end
local deep = {} do local d = deep for _ = 1, 40 do d.x = {} d = d.x end end
local loop = {} loop.self = loop
local many = {} for i = 1, 5000 do many["k" .. i] = "v" end
local heavy = {} for i = 1, 20 do heavy["k" .. i] = ("h"):rep(60000) end
run("key-slash", pub({["a/b"] = "1"}))
run("key-dotdot", pub({[".."] = "1"}))
run("key-dot", pub({["."] = "1"}))
run("key-nul", pub({["a\0b"] = "1"}))
run("key-10000", pub({[("k"):rep(10000)] = "1"}))
run("key-empty", pub({[""] = "1"}))
run("key-bad-utf8", pub({["\255\254"] = "1"}))
run("key-nested-slash", pub({a = {["../../etc"] = "1"}}))
run("value-70000", pub({a = ("v"):rep(70000)}))
run("depth-40", pub(deep))
run("self-reference", pub(loop))
run("entries-5000", pub(many))
run("bytes-1.2MiB", pub(heavy))
run("key-1-and-string-1", pub({[1] = "a", ["1"] = "b"}))
run("name-slash", pub({a = "1"}, "a/b"))
run("name-dotdot", pub({a = "1"}, ".."))
run("name-empty", pub({a = "1"}, ""))
run("name-10000", pub({a = "1"}, ("n"):rep(10000)))
run("name-dot-leading", pub({a = "1"}, ".hidden"))
run("name-nul", pub({a = "1"}, "a\0b"))
-- the previous snapshot must still be the good one
run("read-after", function() local t = upd.read("bi"); return t and t.a == "1" and t.good == "yes", t and t.a end)
