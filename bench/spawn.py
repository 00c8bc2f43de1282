#!/usr/bin/env python3
"""Cost of starting one command inside the sandboxed runner: the spawn helper (posix_spawn) against the
Python fork it falls back to, in the same run and the same jail.

    python3 bench/spawn.py                    # firejail, 500 starts of /bin/true each way, 3 rounds
    python3 bench/spawn.py --sandbox bwrap --n 1000

The runner picks its start path per command (is there an executable ``heval-spawn`` next to it?), so one
runner is measured with the helper, then with the helper moved aside, alternately, each round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pytest_heval.sandbox import RunnerClient  # noqa: E402
from pytest_heval.toolchain import find_toolchain  # noqa: E402
from pytest_heval.sandbox import get_sandbox  # noqa: E402


def per_start_ms(ex: RunnerClient, n: int) -> float:
    req = {"argv": ["/bin/true"], "cwd": "/", "timeout": 5, "mem_mb": 4096, "cpu_s": 12, "fsize_mb": 512,
           "nproc": 512, "nofile": 1024, "uid": ex.uid}
    t0 = time.monotonic()
    for _ in range(n):
        r = ex.request(dict(req))
        assert r.get("rc") == 0, r
    return (time.monotonic() - t0) / n * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sandbox", default="firejail", choices=("firejail", "bwrap", "none"))
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ex = RunnerClient(find_toolchain(), get_sandbox(args.sandbox))
    ex.start()
    helper = os.path.join(ex.root, "heval-spawn")
    if not os.path.exists(helper):
        sys.exit("no spawn helper was built (no C compiler?): nothing to compare")
    aside = helper + ".aside"
    spawn, fork = [], []
    try:
        for _ in range(args.rounds):
            spawn.append(per_start_ms(ex, args.n))
            os.rename(helper, aside)
            try:
                fork.append(per_start_ms(ex, args.n))
            finally:
                os.rename(aside, helper)
    finally:
        ex.close()
    s, f = statistics.median(spawn), statistics.median(fork)
    print(f"sandbox {args.sandbox}, {args.n} starts of /bin/true x {args.rounds} rounds, per start (median of rounds):")
    print(f"  spawn helper (posix_spawn): {s:.2f} ms   rounds {', '.join(f'{x:.2f}' for x in spawn)}")
    print(f"  Python fork + preexec_fn:   {f:.2f} ms   rounds {', '.join(f'{x:.2f}' for x in fork)}")
    print(f"  fork / helper = {f / s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
