//! The `upscript` command line, run as a user would: the original command
//! lines, the flags users of `lua` and `fennel` know, and the error contract
//! (compile errors as FILE:LINE:COL, tracebacks naming Fennel lines, exit codes).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

fn upscript() -> Command {
    common::target_command(env!("CARGO_BIN_EXE_upscript"))
}

fn fennel_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fennel")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    common::outcome(cmd.output().expect("upscript runs"))
}

fn scratch(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upscript-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn original_test_command_line_runs_the_pppoe_tests() {
    let (code, out, err) = run(upscript().current_dir(fennel_dir()).args([
        "fennel.lua",
        "--add-fennel-path",
        "./?.fnl",
        "tests/pppoe-test.fnl",
    ]));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let last = out.lines().last().unwrap_or("");
    assert!(last.ends_with("passed, 0 failed"), "last line: {last}");
}

#[test]
fn file_then_eval_sees_the_files_locals_and_arg_holds_the_args() {
    let f = scratch(
        "main.fnl",
        "(fn main [args] (print (table.concat args \",\") (length arg)))\n",
    );
    let (code, out, err) = run(upscript()
        .args(["fennel.lua", "--add-fennel-path", "./?.fnl"])
        .arg(&f)
        .args(["-e", "(main arg)", "eth0", "ppp0"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "eth0,ppp0\t2\n");
}

#[test]
fn original_service_command_line_reaches_main_with_its_arguments() {
    // On a machine without eth0/pppd pppoe must say so in one line, not crash.
    // It then keeps waiting for the interface: poll what it said, then stop it.
    let log = scratch("pppoe.log", "");
    let mut child = upscript()
        .current_dir(fennel_dir())
        .env(
            "UPD_ROOT",
            std::env::temp_dir().join(format!("upd-cli-root-{}", std::process::id())),
        )
        .args([
            "fennel.lua",
            "--add-fennel-path",
            "./?.fnl",
            "pppoe.fnl",
            "-e",
            "(main arg)",
            "upd-no-such-if0",
            "ppp9",
        ])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
        .spawn()
        .unwrap();
    let mut text = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains("upd-no-such-if0") || child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("upd-no-such-if0"),
        "pppoe did not name the missing interface: {text}"
    );
    // Under qemu-user upscript also says what the emulator refuses or
    // mistranslates (tests/common/mod.rs): those lines are qemu's.
    let qemus = |l: &&str| {
        common::emulated()
            && (l.contains("cannot become a child subreaper")
                || (common::cross_endian_netlink().is_some() && l.contains("attribute truncated")))
    };
    let dropped = text.lines().filter(qemus).count();
    if dropped > 0 {
        common::skip(
            "original_service_command_line_reaches_main_with_its_arguments (one line only)",
            format!("{dropped} lines are qemu-user's (subreaper refused, netlink translation); the rest was checked"),
        );
    }
    let ours: Vec<&str> = text.lines().filter(|l| !qemus(l)).collect();
    assert_eq!(ours.len(), 1, "more than one line: {text}");
    assert!(!text.contains("stack traceback"), "pppoe crashed: {text}");
}

#[test]
fn compile_error_is_file_line_col_and_exit_1() {
    let f = scratch("bad.fnl", "(print 1)\n(let [x 1\n");
    let (code, _, err) = run(upscript().arg("fennel.lua").arg(&f));
    assert_eq!(code, 1);
    let first = err.lines().next().unwrap_or("");
    let want = format!("{}:3:", f.display());
    assert!(
        first.starts_with(&want),
        "first line {first:?} does not start with {want:?}"
    );
}

#[test]
fn runtime_error_traceback_names_fennel_lines() {
    let f = scratch(
        "boom.fnl",
        "(fn inner [] (error \"boom\"))\n\n(fn outer [] (inner) 1)\n(outer)\n",
    );
    let (code, _, err) = run(upscript().arg(&f));
    assert_eq!(code, 1);
    assert!(err.contains("boom"), "{err}");
    let name = f.display().to_string();
    assert!(
        err.contains(&format!("{name}:1:")),
        "no frame at line 1: {err}"
    );
    assert!(
        err.contains(&format!("{name}:3:")),
        "no frame at line 3: {err}"
    );
    assert!(
        !err.contains("launcher"),
        "launcher frames leak into the traceback: {err}"
    );
}

#[test]
fn os_exit_sets_the_status() {
    let f = scratch("exit.lua", "os.exit(7)\n");
    assert_eq!(run(upscript().arg(&f)).0, 7);
    let f = scratch("exit.fnl", "(os.exit 5)\n");
    assert_eq!(run(upscript().arg(&f)).0, 5);
}

#[test]
fn lua_file_gets_its_arguments_and_never_loads_the_compiler() {
    let f = scratch(
        "args.lua",
        "print(arg[0] ~= nil, package.loaded.fennel == nil, ...)\n",
    );
    let (code, out, _) = run(upscript().arg(&f).args(["a", "b"]));
    assert_eq!(code, 0);
    assert_eq!(out, "true\ttrue\ta\tb\n");
}

#[test]
fn embedded_module_runs_without_the_compiler() {
    let (code, out, err) = run(upscript().args([
        "-e",
        "local u = require('upd.policy'); print(type(u), package.loaded.fennel == nil)",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "table\ttrue\n");
}

/// Loads the compiler, compiles and runs a form using built-in macros
/// (their sources come after the main chunk, and load on first use),
/// lists them (fennel.syntax loads them too), formats a compile error
/// (fennel.friend, loaded lazily), then prints the process's children: the
/// inflating child, if any, must be reaped by then.
const COMPILER_CHECK: &str = "local fennel = require('fennel')
local macros = 0
for _, v in pairs(fennel.syntax()) do if v['macro?'] then macros = macros + 1 end end
local f = assert(loadstring((fennel.compileString('(case [1 2] [a b] (-> a (+ b)))'))))
local ok, err = pcall(fennel.compileString, '(fn f [] (local x))', {filename = 'x.fnl'})
local pid = io.open('/proc/self/stat'):read('*n')
local kids = io.open('/proc/' .. pid .. '/task/' .. pid .. '/children')
print(f(), ok, err:match('^x.fnl:1:%d+: Compile error') ~= nil, macros > 20, kids and kids:read('*a') or 'n/a')";

#[test]
fn the_compiler_loads_inflated_beside_or_here_and_no_child_is_left() {
    // More than one CPU: inflated by a forked child (unless told not to).
    for here in [false, true] {
        let mut cmd = upscript();
        if here {
            cmd.env("UPD_INFLATE_HERE", "1");
        }
        let (code, out, err) = run(cmd.args(["-e", COMPILER_CHECK]));
        assert_eq!(code, 0, "here={here}: {err}");
        let out = out.replace("n/a", "");
        assert_eq!(out, "3\tfalse\ttrue\ttrue\t\n", "here={here}");
    }
}

#[test]
fn lua_chunk_with_dash_e() {
    let (code, out, _) = run(upscript().args(["-e", "print(1 + 1)"]));
    assert_eq!(code, 0);
    assert_eq!(out, "2\n");
}

#[test]
fn compile_prints_lua() {
    let f = scratch("c.fnl", "(print (+ 1 2))\n");
    let (code, out, _) = run(upscript().args(["fennel.lua", "--compile"]).arg(&f));
    assert_eq!(code, 0);
    assert!(out.contains("print((1 + 2))"), "{out}");
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(upscript().args(["fennel.lua", "--help"]));
    assert_eq!(code, 0);
    for flag in [
        "--add-fennel-path",
        "--add-package-path",
        "--add-macro-path",
        "--globals",
        "--correlate",
        "--eval",
        "--compile",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}");
    }
    let (code, out, _) = run(upscript().args(["fennel", "--version"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("Fennel 1.5.3") && out.contains("Lua 5.1"),
        "{out}"
    );
}

#[test]
fn globals_flag_allows_a_global_and_unknown_globals_are_compile_errors() {
    let f = scratch("g.fnl", "(print (type my-global))\n");
    let (code, _, err) = run(upscript().arg("fennel.lua").arg(&f));
    assert_eq!(code, 1);
    assert!(err.contains("unknown identifier"), "{err}");
    let (code, out, err) = run(upscript()
        .args(["fennel.lua", "--globals", "my-global"])
        .arg(&f));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "nil\n");
}

#[test]
fn add_package_path_finds_lua_modules() {
    let dir = scratch("m.lua", "return {x = 42}\n")
        .parent()
        .unwrap()
        .to_path_buf();
    let f = scratch("usem.fnl", "(print (. (require :m) :x))\n");
    let (code, out, err) = run(upscript()
        .args(["fennel.lua", "--add-package-path"])
        .arg(format!("{}/?.lua", dir.display()))
        .arg(&f));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "42\n");
}

#[test]
fn repl_evaluates_what_it_reads() {
    let mut child = upscript()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"(+ 40 2)\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
}

#[test]
fn unknown_flag_and_unknown_file_kind_are_one_line_errors() {
    // `fennel.lua ...` stands in for Fennel's CLI: a usage error exits 1 as
    // there (upd's own commands exit 2: upd.launcher's usage-exit).
    let (code, _, err) = run(upscript().args(["fennel.lua", "--frobnicate"]));
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, err) = run(upscript().arg("/nonexistent.fnl"));
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent.fnl"), "{err}");
}

#[test]
fn out_of_memory_is_a_lua_error_a_script_catches() {
    // Under an address-space limit, as `lua5.1` does: the allocation fails
    // and pcall returns the error; the process goes on (no abort).
    if common::emulated() {
        // sh cannot exec a MIPS binary in cross's container, and under
        // qemu-user `ulimit -v` bounds the emulator, not the guest.
        return common::skip(
            "out_of_memory_is_a_lua_error_a_script_catches",
            "under qemu-user the address-space limit is the emulator's; the_memory_limit_is_the_same_catchable_error checks the error",
        );
    }
    let (code, out, err) = run(Command::new("sh").arg("-c").arg(format!(
        "ulimit -v 500000; exec {} -e 'print(pcall(string.rep, \"x\", 1e9)); print(\"after\")'",
        env!("CARGO_BIN_EXE_upscript")
    )));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "false\tnot enough memory\nafter\n");
}

#[test]
fn the_memory_limit_is_the_same_catchable_error() {
    let script = "local t = {}
local ok, err = pcall(function() for i = 1, 1e7 do t[i] = tostring(i) end end)
t = nil
collectgarbage()
print(ok, err)
local upd = require('upd')
local old, used = upd['memory-limit'](false)
print(old, used < 2 ^ 21)
print(pcall(function() local s = {} for i = 1, 1e5 do s[i] = tostring(i) end return #s end))
local _, now = upd['memory-limit'](false)
print(upd['memory-limit'](now + 65536) == 0, pcall(string.rep, 'x', 1e5))";
    let (code, out, err) = run(upscript()
        .env("UPD_MEMORY_LIMIT", "2M")
        .args(["-e", script]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "false\tnot enough memory\n2097152\ttrue\ntrue\t100000\ntrue\tfalse\tnot enough memory\n"
    );
    let (code, _, err) = run(upscript()
        .env("UPD_MEMORY_LIMIT", "lots")
        .args(["-e", "print(1)"]));
    assert_eq!(code, 1);
    assert!(err.contains("UPD_MEMORY_LIMIT"), "{err}");
}

#[test]
fn memory_goes_back_after_a_spike_and_a_collection() {
    // bench/scripts/spike.lua prints: peak RssAnon, live KiB, RssAnon after
    // `collectgarbage()`. Without giving back, what stays is about half the
    // peak (the free lists keep every size class's high-water mark).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/scripts/spike.lua");
    let (code, out, err) = run(upscript().arg(&script).arg("0.3"));
    assert_eq!(code, 0, "{err}");
    let f: Vec<i64> = out.split_whitespace().map(|w| w.parse().unwrap()).collect();
    let (peak, live, after) = (f[0], f[1], f[2]);
    assert!(peak > 40_000, "no spike: {out}");
    assert!(live < 2_000, "{out}");
    if common::emulated() {
        // RssAnon is the emulator's process too (its translation cache
        // stays): the give-back bound holds only on a kernel.
        return common::skip(
            "memory_goes_back_after_a_spike_and_a_collection (its RssAnon bound)",
            format!("under qemu-user RssAnon is the emulator's ({after} KiB of a {peak} KiB peak kept); the spike was checked"),
        );
    }
    assert!(after < peak / 8, "kept {after} KiB of a {peak} KiB peak");
}

fn run_stdin(cmd: &mut Command, input: &str) -> (i32, String, String) {
    common::run_stdin(cmd, input.as_bytes())
}

#[test]
fn lua_options_as_lua5_1_has_them() {
    // A #! first line is skipped, its line still counted.
    let f = scratch(
        "shebang",
        "#!/usr/bin/lua5.1\nprint(debug.getinfo(1, 'l').currentline, ...)\n",
    );
    let (code, out, err) = run(upscript().arg(&f).arg("x"));
    assert_eq!((code, out.as_str()), (0, "2\tx\n"), "{err}");
    // Several -e and -l, in order; -v first (to stderr, as lua5.1's),
    // whatever the order.
    let (code, out, err) =
        run(upscript().args(["-e", "a = 1", "-l", "string", "-e", "print(a + 1)", "-v"]));
    assert_eq!(code, 0);
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("2\n", "upscript 0.1.0 (Lua 5.1)\n")
    );
    // -- ends the options; the words after the script are its arguments.
    let (code, out, _) = run(upscript().arg("--").arg(&f).args(["-e", "y"]));
    assert_eq!((code, out.as_str()), (0, "2\t-e\ty\n"));
    // - is stdin, with arguments.
    let (code, out, _) = run_stdin(upscript().args(["-", "q"]), "print('in', ...)");
    assert_eq!((code, out.as_str()), (0, "in\tq\n"));
    // LUA_INIT, a chunk or @file, runs first.
    let init = scratch("init.lua", "b = 7\n");
    let (_, out, _) = run(upscript().env("LUA_INIT", "b = 6").args(["-e", "print(b)"]));
    assert_eq!(out, "6\n");
    let (_, out, _) = run(upscript()
        .env("LUA_INIT", format!("@{}", init.display()))
        .args(["-e", "print(b)"]));
    assert_eq!(out, "7\n");
    // -i reads and prints `=EXPR` (lua5.1's REPL: a bare expression is a
    // syntax error there) after the options ran.
    let (code, out, _) = run_stdin(upscript().args(["-e", "c = 3", "-i"]), "=c * 2\n");
    assert_eq!(code, 0);
    assert!(out.contains("> 6\n"), "{out}");
    // An unknown option (-h among them, as lua5.1) is the usage and exit 1.
    let (code, out, err) = run(upscript().arg("-h"));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.contains("unrecognized option '-h'") && err.contains("-l name"),
        "{err}"
    );
    // The distribution's module directory, as Debian's lua5.1.
    let (_, out, _) = run(upscript()
        .env_remove("LUA_PATH")
        .args(["-e", "print(package.path)"]));
    assert!(out.contains("/usr/share/lua/5.1/?.lua"), "{out}");
}

#[test]
fn the_error_handler_survives_clobbered_globals() {
    let (code, _, err) = run(upscript().args([
        "-e",
        "package = nil; string = nil; io = nil; os = nil; debug = nil; error('boom')",
    ]));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("(command line):1: boom\nstack traceback:"),
        "{err}"
    );
    assert!(!err.contains("error in error handling"), "{err}");
}

#[test]
fn a_traceback_shows_only_the_scripts_frames() {
    let f = scratch(
        "tb.lua",
        "local function f() error('x') end\nlocal function g() f() end\ng()\n",
    );
    let (code, _, err) = run(upscript().arg(&f));
    assert_eq!(code, 1);
    let frames: Vec<&str> = err.lines().filter(|l| l.starts_with('\t')).collect();
    assert_eq!(frames.len(), 4, "{err}");
    assert!(frames[3].ends_with("in main chunk"), "{err}");
    assert!(
        !err.contains("xpcall") && !err.contains("launch") && !err.contains("tail call"),
        "{err}"
    );
}

#[test]
fn fennel_commands_and_flags_as_fennel_1_5_3() {
    // --eval prints the values, nils too; words after its source are ignored.
    let (code, out, err) = run(upscript().args([
        "fennel.lua",
        "--eval",
        "(values 1 nil 2 nil nil)",
        "-l",
        "x",
    ]));
    assert_eq!((code, out.as_str()), (0, "1\tnil\t2\tnil\tnil\n"), "{err}");
    // --compile (and -c) compile every file given.
    let a = scratch("ca.fnl", "(print :a)\n");
    let b = scratch("cb.fnl", "(print :b)\n");
    let (code, out, _) = run(upscript().args(["fennel.lua", "-c"]).arg(&a).arg(&b));
    assert_eq!(code, 0);
    assert!(
        out.contains("print(\"a\")") && out.contains("print(\"b\")"),
        "{out}"
    );
    // --load runs a file first; - is stdin, for --eval and alone.
    let l = scratch("load.fnl", "(global loaded-x 42)\n");
    let (_, out, err) = run(upscript().args(["fennel.lua", "--load"]).arg(&l).args([
        "--globals",
        "loaded-x",
        "-e",
        "loaded-x",
    ]));
    assert_eq!(out, "42\n", "{err}");
    let (_, out, _) = run_stdin(upscript().args(["fennel.lua", "-e", "-"]), "(+ 1 2)");
    assert_eq!(out, "3\n");
    let (_, out, _) = run_stdin(upscript().args(["fennel.lua", "-"]), "(print :in)");
    assert_eq!(out, "in\n");
    // Accepted flags, passed to the compiler.
    let (code, out, err) = run(upscript().args([
        "fennel.lua",
        "--metadata",
        "--no-searcher",
        "--require-as-include",
        "--skip-include",
        "fennel",
        "--raw-errors",
        "--no-compiler-sandbox",
        "--keywords",
        "goto",
        "-e",
        "(fn f [] \"the doc\" 1) (let [fennel (require :fennel)] (fennel.metadata:get f :fnl/docstring))",
    ]));
    assert_eq!((code, out.as_str()), (0, "the doc\n"), "{err}");
    // --plugin: a compiler plugin sees each call.
    let p = scratch(
        "plugin.fnl",
        "{:name :count :versions [:1.5.3] :call (fn [ast] (when (= (tostring (. ast 1)) :print) (io.stderr:write \"call\\n\")) nil)}\n",
    );
    let (code, _, err) = run(upscript()
        .args(["fennel.lua", "--plugin"])
        .arg(&p)
        .args(["-e", "(print 1)"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("call"), "{err}");
    // arg: the words left after the flags, as Fennel's test-args checks.
    let (_, out, _) = run(upscript().args(["fennel.lua", "--eval", "(. arg 3)", "-l"]));
    assert_eq!(out, "-l\n");
    // --lua, anywhere: the command line again under another Lua (here
    // upscript itself, standing in for one), its exit status ours.
    let (code, out, err) = run(upscript().args([
        "fennel.lua",
        "--eval",
        "(os.exit 3)",
        "--lua",
        env!("CARGO_BIN_EXE_upscript"),
    ]));
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    // --lua runs the named interpreter through sh: under qemu-user (no
    // binfmt_misc in cross's container) sh cannot exec a MIPS binary.
    if common::emulated() {
        common::skip(
            "fennel_commands_and_flags_as_fennel_1_5_3 (its --lua check)",
            "under qemu-user sh cannot exec the target binary; the other commands were checked",
        );
    } else {
        let (code, out, err) = run(upscript().args([
            "fennel.lua",
            "--eval",
            "(.. :child \" it's\")",
            "--lua",
            env!("CARGO_BIN_EXE_upscript"),
        ]));
        assert_eq!((code, out.as_str()), (0, "child it's\n"), "{err}");
    }
    // Left out, said so.
    let (code, _, err) =
        run(upscript().args(["fennel.lua", "--compile-binary", "a", "b", "c", "d"]));
    assert_eq!(code, 1);
    assert!(err.contains("left out"), "{err}");
    // An error in --eval: exit 1.
    let (code, _, _) = run(upscript().args(["fennel.lua", "--eval", "(error :x)"]));
    assert_eq!(code, 1);
}

#[test]
fn publish_says_unchanged_for_an_equal_tree_and_changed_publish_tells_apart() {
    let root = std::env::temp_dir().join(format!("upd-cli-unchanged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let script = scratch(
        "unchanged.fnl",
        r#"(local upd (require :upd))
(local changed (require :upd.changed))
(print (upd.publish :s {:a 1 :b {:c :x}}))
(print (upd.publish :s {:a 1 :b {:c :x}}))
(print (upd.publish :s {:a 2 :b {:c :x}}))
(print (changed.publish! :s {:a 2 :b {:c :x}}))
(print (changed.publish! :s {:a 3 :b {:c :x}}))
(print (upd.publish :s {:a 3 :b {:c :x}} {:private true}))
"#,
    );
    let (code, out, err) = run(upscript()
        .env("UPD_ROOT", &root)
        .current_dir(fennel_dir())
        .args(["fennel.lua", "--add-fennel-path", "./?.fnl"])
        .arg(&script));
    assert_eq!(code, 0, "{err}");
    // (the bindings return a second value, nil but for an error)
    assert_eq!(
        out,
        "true\tnil\nunchanged\tnil\ntrue\tnil\nfalse\ntrue\ntrue\tnil\n"
    );
    // Four snapshots were made, not six.
    let link = std::fs::read_link(root.join("s")).unwrap();
    assert_eq!(link, Path::new(".s/4"));
    std::fs::remove_dir_all(&root).unwrap();
}
