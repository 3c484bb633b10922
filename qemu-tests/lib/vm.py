#!/usr/bin/env python3
"""Boots the emulated router once, headless, and reads its console.

vm.py --kernel K --initrd I --name NAME --log FILE [--timeout SECS] [--mem MB]
      [--append ARGS] [--verbose] [--result FILE]
vm.py --kernel K --initrd I --interactive [--mem MB] [--append ARGS]

Reacts to markers on the serial console (see qemu-tests/image/etc/upd-test.sh):
@@HOST cmd runs `cmd` in the QEMU monitor (a unix socket) then types @@ACK on
the console (or `@@NAK reply` when the monitor answered something: an error); @@INFO is printed; the first @@PASS/@@FAIL is the result; @@END or
QEMU's exit ends the run. A timeout or a missing marker is a failure.
Prints one result line; exits 0 on PASS, 1 otherwise.
"""
import argparse, os, re, socket, subprocess, sys, tempfile, threading, time

MARK = re.compile(r"@@(PASS|FAIL|HOST|INFO|END)\b ?(.*)")


def qemu_argv(a, monitor=None):
    """QEMU's command line; without monitor, the console and monitor share stdio."""
    nic = "pcnet,netdev={n},id={i},mac={m},romfile="
    io = (["-serial", "stdio", "-monitor", "unix:%s,server,nowait" % monitor] if monitor
          else ["-serial", "mon:stdio"])
    return [
        "qemu-system-mipsel", "-M", "malta", "-m", str(a.mem),
        "-kernel", a.kernel, "-initrd", a.initrd,
        "-append", "console=ttyS0 quiet printk.devkmsg=on panic=-1 " + a.append,
        "-vga", "none", "-display", "none", "-no-reboot",
    ] + io + [
        "-netdev", "hubport,id=n0,hubid=0", "-device", nic.format(n="n0", i="wan", m="52:54:00:00:00:01"),
        "-netdev", "hubport,id=n1,hubid=0", "-device", nic.format(n="n1", i="ispnic", m="52:54:00:00:00:02"),
    ]


class Monitor:
    def __init__(self, path):
        self.path, self.sock = path, None

    def _read_prompt(self):
        buf = b""
        self.sock.settimeout(10)
        while not buf.endswith(b"(qemu) "):
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace")

    def command(self, cmd):
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
            self._read_prompt()
        self.sock.sendall(cmd.encode() + b"\n")
        out = self._read_prompt()
        # The monitor echoes the command line and ends with the prompt.
        lines = [l for l in out.replace("\r", "").split("\n") if l and not l.startswith("(qemu)")]
        return "\n".join(l for l in lines if cmd not in l)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--name")
    p.add_argument("--log")
    p.add_argument("--interactive", action="store_true",
                   help="run QEMU on this terminal (Ctrl-A X quits, Ctrl-A C is the monitor)")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--mem", type=int, default=int(os.environ.get("QEMU_MEM", "128")))
    p.add_argument("--append", default="")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--result", help="also write the result line to this file")
    a = p.parse_args()
    if a.interactive:
        argv = qemu_argv(a)
        os.execvp(argv[0], argv)
    if not (a.name and a.log):
        p.error("--name and --log are required unless --interactive")

    tmp = tempfile.mkdtemp(prefix="upd-vm-")
    mon_path = os.path.join(tmp, "monitor")
    start = time.monotonic()
    log = open(a.log, "w")
    proc = subprocess.Popen(qemu_argv(a, mon_path), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    mon = Monitor(mon_path)
    result = {"status": None, "why": ""}
    timed_out = threading.Event()

    def on_timeout():
        timed_out.set()
        proc.kill()
    timer = threading.Timer(a.timeout, on_timeout)
    timer.start()

    try:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            stamp = "%7.2f " % (time.monotonic() - start)
            log.write(stamp + line + "\n")
            log.flush()
            if a.verbose:
                print(stamp + line, flush=True)
            m = MARK.search(line)
            if not m:
                continue
            kind, rest = m.group(1), m.group(2).strip()
            if kind == "HOST":
                try:
                    reply = mon.command(rest)
                except OSError as e:
                    reply = "monitor error: %s" % e
                log.write("%7.2f [host] %s -> %s\n" % (time.monotonic() - start, rest, reply or "ok"))
                # Action commands answer nothing; any text is an error message.
                answer = "@@NAK " + " ".join(reply.split()) if reply else "@@ACK"
                proc.stdin.write(answer.encode() + b"\n")
                proc.stdin.flush()
            elif kind == "INFO":
                print("  " + rest, flush=True)
            elif kind in ("PASS", "FAIL") and result["status"] is None:
                result["status"] = kind
                result["why"] = rest
            elif kind == "END":
                break
    finally:
        timer.cancel()
        if proc.poll() is None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        try:
            os.unlink(mon_path)
            os.rmdir(tmp)
        except OSError:
            pass

    secs = time.monotonic() - start
    status, why = result["status"], result["why"]
    if timed_out.is_set() and status is None:
        status, why = "FAIL", "%s: timeout after %d s" % (a.name, a.timeout)
    elif status is None:
        status, why = "FAIL", "%s: no @@PASS/@@FAIL marker (qemu exit %s)" % (a.name, proc.returncode)
    return report(a, status, why, secs)


def report(a, status, why, secs):
    """The scenario's one result line, on stdout and in a.result (the
    runner's summary reads it); exit status 0 for PASS."""
    line = "%s %s (%.1f s)%s" % (status, why, secs, "" if status == "PASS" else "  log: " + a.log)
    print(line, flush=True)
    if a.result:
        with open(a.result, "w") as f:
            f.write(line + "\n")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
