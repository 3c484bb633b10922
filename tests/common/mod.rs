//! Shared by the integration tests: running a binary built for the target
//! (upscript, or the test binary itself) as a child, also when the tests run
//! under qemu-user, and SKIP lines that are seen.
//!
//! Under qemu-user (`cross test`, `cargo-zigbuild test --target mips...`)
//! the test binary is emulated, and a MIPS child cannot be exec'd directly
//! unless binfmt_misc knows MIPS (it does not in cross's containers, nor on
//! this machine): execve gives ENOEXEC. The child is then run through the
//! emulator: UPD_TEST_RUNNER, else cargo's CARGO_TARGET_<TRIPLE>_RUNNER
//! (cross/Dockerfile sets it), else qemu-<arch>-static.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn target_triple_var() -> &'static str {
    if cfg!(all(target_arch = "mips", target_endian = "big")) {
        "CARGO_TARGET_MIPS_UNKNOWN_LINUX_MUSL_RUNNER"
    } else if cfg!(target_arch = "mips") {
        "CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_MUSL_RUNNER"
    } else {
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER"
    }
}

fn default_emulator() -> Option<&'static str> {
    if cfg!(all(target_arch = "mips", target_endian = "big")) {
        Some("qemu-mips-static")
    } else if cfg!(target_arch = "mips") {
        Some("qemu-mipsel-static")
    } else {
        None
    }
}

/// The emulator command (program and arguments) children built for the
/// target need, or None when they run directly. Decided once, by trying to
/// exec this test binary (built for the target, like upscript): only
/// ENOEXEC asks for an emulator, and means this test runs under one too.
fn runner() -> Option<&'static Vec<String>> {
    static RUNNER: OnceLock<Option<Vec<String>>> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            if let Ok(r) = std::env::var("UPD_TEST_RUNNER") {
                return Some(r.split_whitespace().map(String::from).collect());
            }
            let me = std::env::current_exe().expect("the test binary's path");
            let direct = Command::new(&me)
                .args(["--list", "--exact", "upd-probe-no-such-test"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match direct {
                Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
                    let r = std::env::var(target_triple_var())
                        .ok()
                        .or_else(|| default_emulator().map(String::from))
                        .unwrap_or_else(|| {
                            panic!("{} cannot be exec'd here (ENOEXEC) and no emulator is known: set UPD_TEST_RUNNER", me.display())
                        });
                    Some(r.split_whitespace().map(String::from).collect())
                }
                _ => None,
            }
        })
        .as_ref()
}

/// A command running `exe`, a binary built for the target.
pub fn target_command(exe: impl AsRef<Path>) -> Command {
    let exe = exe.as_ref();
    match runner() {
        Some(r) => {
            let mut c = Command::new(&r[0]);
            // Scripts that exec upscript again (notify.lua) need it too.
            c.args(&r[1..]).arg(exe).env("UPD_TEST_RUNNER", r.join(" "));
            c
        }
        None => Command::new(exe),
    }
}

/// The argv prefix (emulator and its arguments) that `target_command`
/// puts before `exe`, for commands that wrap it (`ip netns exec ...`).
pub fn target_argv(exe: impl AsRef<Path>) -> Vec<String> {
    let exe = exe.as_ref();
    let mut v: Vec<String> = runner().cloned().unwrap_or_default();
    v.push(exe.to_string_lossy().into_owned());
    v
}

/// True when the tests (and the children they start) run under an
/// emulator (qemu-user): what /proc says of a child is then qemu's (its
/// RSS, its mappings), and its system calls are qemu's translation.
pub fn emulated() -> bool {
    runner().is_some()
}

/// Under qemu-user, why a big-endian guest cannot be trusted with live
/// rtnetlink: qemu translates netlink messages between the guest's and the
/// host's byte order and cuts attributes it does not know ("attribute
/// truncated"). None when the byte orders agree or nothing is emulated.
/// The big-endian emulated router (qemu-tests/be/) runs upd's netlink on
/// a real big-endian kernel instead.
pub fn cross_endian_netlink() -> Option<String> {
    if !emulated() || !cfg!(target_endian = "big") {
        return None;
    }
    let emulator = &runner()?[0];
    // The emulator is a host binary: its ELF header says the host's order.
    let path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(emulator))
        .chain(std::iter::once(Path::new(emulator).to_path_buf()))
        .find(|p| p.is_file())?;
    let mut head = [0u8; 6];
    std::io::Read::read_exact(&mut std::fs::File::open(&path).ok()?, &mut head).ok()?;
    (head[5] == 1).then(|| {
        format!(
            "{emulator} (qemu-user) translates rtnetlink between this big-endian guest and the little-endian host and truncates attributes; qemu-tests' be-* scenarios run it on a big-endian kernel"
        )
    })
}

/// The warning upscript (`exe`) logs when it cannot become a child
/// subreaper (qemu-user 7.2 refuses PR_SET_CHILD_SUBREAPER with EINVAL;
/// Linux has it since 3.4), or None when it can. Probed by running it.
pub fn subreaper_refused(exe: impl AsRef<Path>) -> Option<String> {
    let out = target_command(exe)
        .args([
            "-e",
            "local c = require('upd.core'); c.after(0, function() c.stop() end); c.run()",
        ])
        .env_remove("UPD_SERVICE")
        .env_remove("NOTIFY_FD")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.contains("cannot become a child subreaper"))
        .map(|l| l.trim().to_string())
}

/// Prints `SKIP test: reason` on the real stderr: the test harness captures
/// eprintln! of a passing test (the line would never be seen), not this.
pub fn skip(test: &str, reason: impl std::fmt::Display) {
    let line = format!("SKIP {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A finished command as (exit code, stdout, stderr): -1 when a signal
/// ended it.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd` with `input` on its stdin; its outcome.
pub fn run_stdin(cmd: &mut Command, input: &[u8]) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    outcome(child.wait_with_output().unwrap())
}
