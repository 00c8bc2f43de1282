#!/usr/bin/env python3
"""Cost of sealing a test run (spawn.c's seccomp filter + execveat, the proof socket): CPU per start of
/bin/true in one sandboxed runner, sealed and not, alternately. CPU (the runner's own and its reaped children's,
from /proc) rather than wall time, which on a loaded machine mostly measures the CPU share.

    python3 bench/seal.py                    # firejail, 400 starts each way, 3 rounds
    python3 bench/seal.py --sandbox bwrap
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pytest_heval.program import PROOF_FD  # noqa: E402
from pytest_heval.sandbox import RunnerClient, get_sandbox  # noqa: E402
from pytest_heval.toolchain import find_toolchain  # noqa: E402


def runner_pid(pid: int):
    """The in-jail runner (python ... runner.py) below the sandbox process ``pid``."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids = [int(k) for k in f.read().split()]
        for k in kids:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if len(argv) > 1 and argv[-2].endswith(b"runner.py") and b"python" in os.path.basename(argv[0]):
                return k
            found = runner_pid(k)
            if found:
                return found
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sandbox", default="firejail", choices=("firejail", "bwrap", "none"))
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ex = RunnerClient(find_toolchain(), get_sandbox(args.sandbox))
    ex.start()
    pid = ex.proc.pid if args.sandbox == "none" else runner_pid(ex.proc.pid)
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime

    base = {"argv": ["/bin/true"], "cwd": "/", "timeout": 5, "mem_mb": 4096, "cpu_s": 12, "fsize_mb": 512,
            "nproc": 512, "nofile": 1023, "uid": ex.uid}

    def per_start_ms(req) -> float:
        t0 = cpu()
        for _ in range(args.n):
            r = ex.request(dict(req))
            assert r.get("rc") == 0, r
        return (cpu() - t0) / args.n * 1000

    plain, sealed = [], []
    try:
        for _ in range(args.rounds):
            plain.append(per_start_ms(base))
            sealed.append(per_start_ms(dict(base, seal=True, proof_fd=PROOF_FD)))
    finally:
        ex.close()
    p, s = statistics.median(plain), statistics.median(sealed)
    print(f"{args.sandbox}: CPU per start {p:.2f} ms unsealed, {s:.2f} ms sealed (+{s - p:.2f} ms), "
          f"median of {args.rounds} x {args.n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
