#!/usr/bin/env python3
"""vm.py (qemu-tests/lib/vm.py) for the big-endian router: the same harness
and console markers, the same board and NICs, with qemu-system-mips instead
of qemu-system-mipsel. Takes vm.py's arguments."""
import os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import vm  # noqa: E402

little_endian_argv = vm.qemu_argv


def qemu_argv(a, monitor=None):
    argv = little_endian_argv(a, monitor)
    assert argv[0] == "qemu-system-mipsel", argv[0]
    return ["qemu-system-mips"] + argv[1:]


vm.qemu_argv = qemu_argv
if __name__ == "__main__":
    sys.exit(vm.main())
