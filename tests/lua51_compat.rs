//! What the Lua 5.1 test suite (lua5.1-tests, run by `scripts/lua51-suite`,
//! which CI cannot fetch) caught upscript doing differently from `lua5.1`,
//! each behaviour asserted here by a test of our own.
use std::path::PathBuf;
use std::process::{Command, Output};

mod common;

fn upscript() -> Command {
    common::target_command(env!("CARGO_BIN_EXE_upscript"))
}

fn run_stdin(cmd: &mut Command, input: &[u8]) -> (i32, String, String) {
    common::run_stdin(cmd.env_remove("LUA_INIT"), input)
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    run_stdin(cmd, b"")
}

fn scratch(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upscript-lua51-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn dash_e_and_dash_l_take_their_value_in_the_same_word() {
    let m = scratch("m1.lua", b"loaded_m1 = (loaded_m1 or 0) + 1\n");
    let (code, out, err) = run(upscript()
        .env(
            "LUA_PATH",
            format!("{}/?.lua", m.parent().unwrap().display()),
        )
        .args(["-ev = 4", "-lm1", "-e", "print(v * 2, loaded_m1)"]));
    assert_eq!((code, out.as_str()), (0, "8\t1\n"), "{err}");
}

#[test]
fn options_run_before_arg_is_set_and_arg_has_every_word_before_the_script() {
    let s = scratch(
        "args.lua",
        b"print(arg[-1], arg[-2], arg[-3], arg[-4] ~= nil, arg[-5], arg[1], select('#', ...))\n",
    );
    // "-e " is -e with the chunk " "; the options see no `arg` yet.
    let (code, out, err) = run(upscript()
        .args(["-eassert(arg == nil)", "-e "])
        .arg("--")
        .arg(&s)
        .args(["a", "b"]));
    assert_eq!(
        (code, out.as_str()),
        (0, "--\t-e \t-eassert(arg == nil)\ttrue\tnil\ta\t2\n"),
        "{err}"
    );
}

#[test]
fn many_arguments_reach_the_script() {
    let s = scratch("many", b"print(select('#', ...), (select(30, ...)))\n");
    let words: Vec<String> = (1..=30).map(|i| format!("w{i}")).collect();
    let (code, out, err) = run(upscript().arg(&s).args(&words));
    assert_eq!((code, out.as_str()), (0, "30\tw30\n"), "{err}");
}

#[test]
fn interactive_mode_reads_like_lua5_1s() {
    // `=EXPR` prints EXPR; an incomplete chunk continues on the next lines
    // (with _PROMPT2); every value returned is printed; a newline at the end.
    let input = b"=1 + 1\nx\n= 5\nfunction f()\nreturn 7, nil\nend\n=f()\n";
    let (code, out, err) = run_stdin(
        upscript().args(["-e", "_PROMPT = '{P}' _PROMPT2 = '{C}'", "-i"]),
        input,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "{P}2\n{P}{C}{P}{C}{C}{P}7\tnil\n{P}\n");
    // Without _PROMPT: lua5.1's prompts; a syntax error goes to stderr.
    let (code, out, err) = run_stdin(upscript().arg("-i"), b"+\n");
    assert_eq!((code, out.as_str()), (0, "> > \n"));
    assert!(err.contains("stdin:1:"), "{err}");
}

#[test]
fn version_goes_to_stderr_and_dash_i_shows_it() {
    let (code, out, err) = run(upscript().arg("-v"));
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("Lua 5.1"), "{err}");
    let (_, _, err) = run(upscript().arg("-i"));
    assert!(err.contains("Lua 5.1"), "{err}");
}

#[test]
fn without_a_script_or_dash_e_stdin_is_run() {
    let (code, out, _) = run_stdin(upscript().arg("-lstring"), b"print('from stdin')\n");
    assert_eq!((code, out.as_str()), (0, "from stdin\n"));
    let (code, out, _) = run_stdin(upscript().arg("--"), b"print(1,\n2)\n");
    assert_eq!((code, out.as_str()), (0, "1\t2\n"));
    // With -e, stdin is not read.
    let (code, out, _) = run_stdin(upscript().args(["-e", "x = 1"]), b"print('no')\n");
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn bad_command_lines_fail_as_in_lua5_1() {
    for words in [&["-e"][..], &["-ix"], &["-vv"], &["--x"], &["-f"], &["-l"]] {
        let (code, out, err) = run(upscript().args(words));
        assert_eq!((code, out.as_str()), (1, ""), "{words:?}");
        assert!(err.contains("usage:"), "{words:?}: {err}");
    }
    let (code, _, err) = run(upscript().args(["-e", "a"]));
    assert_eq!(code, 1);
    assert!(err.contains("(command line):1:"), "{err}");
}

#[test]
fn a_first_line_comment_may_precede_a_precompiled_chunk() {
    // string.dump's bytes, made by upscript itself.
    let bin = scratch(
        "dump.lua",
        b"io.write(string.dump(loadstring('print(6 * 7)')))\n",
    );
    let Output { stdout: dump, .. } = upscript().arg(&bin).output().unwrap();
    assert_eq!(dump.first(), Some(&27u8), "not a binary chunk");
    for nl in [&b"\n"[..], b"\r\n"] {
        let mut content = b"#!/usr/bin/lua5.1".to_vec();
        content.extend_from_slice(nl);
        content.extend_from_slice(&dump);
        let f = scratch("compiled", &content);
        let (code, out, err) = run(upscript().arg(&f));
        assert_eq!((code, out.as_str()), (0, "42\n"), "{nl:?}: {err}");
    }
    // A file that is only a comment line, without its newline.
    let f = scratch("only-comment", b"#just a comment");
    let (code, out, err) = run(upscript().arg(&f));
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn debug_traceback_keeps_the_scripts_outer_frames_in_its_window() {
    // Lua 5.1's traceback shows the first 12 levels, "...", then the last
    // 10: the launcher's frames below the main chunk (four, lua5.1 has one)
    // must leave room for the frame where a deep recursion started, here
    // the ninth level from the bottom (the eleventh with six).
    let s = scratch(
        "deep.lua",
        b"local function down(n) if n == 0 then error('bottom') end down(n - 1) end\n\
          local function start() down(40) end\n\
          local function run() local _, tb = xpcall(start, debug.traceback) return tb end\n\
          local function outer() local tb = run() return tb end\n\
          local tb = outer()\n\
          print(tb:find('deep.lua:2:', 1, true) ~= nil, tb:find('...', 1, true) ~= nil)\n",
    );
    let (code, out, err) = run(upscript().arg(&s));
    assert_eq!((code, out.as_str()), (0, "true\ttrue\n"), "{err}");
}

#[test]
fn a_file_left_open_as_io_output_is_flushed_at_exit() {
    let out_path = scratch("left-open.txt", b"");
    let s = scratch(
        "open.lua",
        format!(
            "io.output({:?}); io.write('kept')\n",
            out_path.display().to_string()
        )
        .as_bytes(),
    );
    let (code, _, err) = run(upscript().arg(&s));
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "kept");
}
