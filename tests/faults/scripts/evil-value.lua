-- Fault-injection publisher: a tree whose values hold terminal escapes and
-- control characters (a hostile feed), as bytes.
local upd = require("upd")
assert(upd.publish(arg[1] or "evil", {
  title = "\27]0;pwned\7\27[2J\27[31mred\r\n\9tab\127del\194\155csi\\",
  plain = "ok",
}))
