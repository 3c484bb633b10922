#!/usr/bin/env python3
"""console.py: the host side of the `console` scenario. Boots the router
like vm.py (its arguments, its QEMU command line) but, once the guest says
@@CONSOLE, types commands at the shell on the serial console and checks
what comes back, as a person at a serial console would (TERM=dumb in the
guest). Prints and writes one result line like vm.py's; exits 0 on PASS."""
import argparse, os, re, select, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

PROMPT = b"router# "


class Console:
    def __init__(self, proc, log, verbose, start):
        self.proc, self.log, self.verbose, self.start = proc, log, verbose, start
        self.buf = b""
        self.all = b""

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        r, _, _ = select.select([self.proc.stdout], [], [], left)
        if not r:
            raise TimeoutError
        chunk = os.read(self.proc.stdout.fileno(), 4096)
        if not chunk:
            raise EOFError
        self.buf += chunk
        self.all += chunk
        text = chunk.decode(errors="replace")
        self.log.write(text)
        self.log.flush()
        if self.verbose:
            sys.stdout.write(text)
            sys.stdout.flush()

    def wait_for(self, marker, secs):
        deadline = time.monotonic() + secs
        while marker not in self.buf:
            self._read(deadline)
        before, _, self.buf = self.buf.partition(marker)
        return before

    def run(self, cmd, secs=20):
        """Types cmd, returns its output (without the echoed command line)."""
        self.log.write("\n[host %.2f types] %s\n" % (time.monotonic() - self.start, cmd))
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()
        out = self.wait_for(PROMPT, secs).decode(errors="replace").replace("\r", "")
        lines = out.split("\n")
        if lines and cmd in lines[0]:
            lines = lines[1:]
        return "\n".join(l for l in lines if l.strip() != "").strip("\n")


class Fail(Exception):
    pass


def check(ok, why):
    if not ok:
        raise Fail(why)


def scenario(c):
    c.wait_for(b"@@CONSOLE", 90)
    c.wait_for(PROMPT, 30)
    # At the first prompt: upd run was started a moment ago.
    first = c.run("upd status; echo rc=$?")
    check("no supervisor is running" not in first, "upd status at the first prompt: %r" % first)
    check(first.split("\n")[0].split()[:3] == ["NAME", "PROCESS", "SINCE"], "upd status header: %r" % first)
    check("rc=0" in first, "upd status at the first prompt failed: %r" % first)
    check(re.search(r"^eth0 ", first, re.M) and re.search(r"^pppoe ", first, re.M),
          "upd status at the first prompt lacks eth0 or pppoe: %r" % first)
    # Wait for PPPoE.
    deadline = time.monotonic() + 60
    while c.run("upd get pppoe/state") != "up":
        check(time.monotonic() < deadline, "pppoe/state is not up within 60 s")
        time.sleep(1)
    status = c.run("upd status")
    line = [l for l in status.split("\n") if l.startswith("pppoe ")]
    check(line, "no pppoe line in %r" % status)
    f = line[0].split()
    # The supervisor's view: pppoe called upd.ready once initialised and
    # publishing (docs/services.md, "Readiness"); the service's own: up.
    check(f[1] == "ready" and f[-1] == "up",
          "pppoe's line should show the supervisor's `ready` and the service's `up`: %r" % line[0])
    bare = c.run("upd")
    check("Usage" not in bare and bare.split("\n")[0] == status.split("\n")[0]
          and re.search(r"^pppoe ", bare, re.M), "upd alone: %r" % bare)
    shown = c.run("upd show")
    check("Usage" not in shown, "upd show alone printed the usage: %r" % shown)
    check(re.search(r"^pppoe +up$", shown, re.M) and re.search(r"^eth0 +running$", shown, re.M),
          "upd show alone: %r" % shown)
    # `since` in one unit everywhere: the service's (pppoe/since) and the
    # supervisor's are both whole seconds of the wall clock, as `date +%s`.
    since = c.run("upd get pppoe/since; upd get upd/services/pppoe/since; date +%s").split("\n")
    check(len(since) == 3 and all(re.fullmatch(r"\d+", v) for v in since)
          and max(map(int, since)) - min(map(int, since)) < 300,
          "pppoe/since, upd/services/pppoe/since and date +%%s differ in unit: %r" % since)
    # The log the banner names is where upd's lines go.
    logged = c.run("grep -c upd /tmp/upd.log")
    check(re.fullmatch(r"\d+", logged) and int(logged) > 0, "/tmp/upd.log has no upd line: %r" % logged)
    term = c.run("echo TERM=$TERM")
    check(term == "TERM=dumb", "the shell has %r" % term)
    check(b"\x1b[" not in c.all, "colour escapes on the console with TERM=dumb")
    return "first upd status: %d lines" % len(first.split("\n"))


def main():
    p = argparse.ArgumentParser()
    for a in ("--kernel", "--initrd", "--name", "--log", "--result"):
        p.add_argument(a)
    p.add_argument("--timeout", type=float, default=150)
    p.add_argument("--mem", type=int, default=int(os.environ.get("QEMU_MEM", "128")))
    p.add_argument("--append", default="")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    a.append = (a.append + " TERM=dumb").strip()
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "upd-console-%d" % os.getpid())
    start = time.monotonic()
    log = open(a.log, "w")
    proc = subprocess.Popen(vm.qemu_argv(a, tmp), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    c = Console(proc, log, a.verbose, start)
    status, why = "FAIL", ""
    try:
        # The whole scenario within the timeout.
        deadline = start + a.timeout
        orig = c._read
        c._read = lambda d: orig(min(d, deadline))
        info = scenario(c)
        status, why = "PASS", "%s (%s)" % (a.name, info)
    except Fail as e:
        why = "%s: %s" % (a.name, e)
    except TimeoutError:
        why = "%s: timeout (waiting after %r)" % (a.name, c.buf[-200:].decode(errors="replace"))
    except EOFError:
        why = "%s: QEMU exited (%s)" % (a.name, proc.poll())
    finally:
        try:
            proc.stdin.write(b"poweroff -f\n")
            proc.stdin.flush()
            proc.wait(timeout=15)
        except Exception:
            proc.kill()
            proc.wait()
        log.close()
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return vm.report(a, status, why, time.monotonic() - start)


if __name__ == "__main__":
    sys.exit(main())
