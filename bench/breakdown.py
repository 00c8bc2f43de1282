#!/usr/bin/env python3
"""Where the engine's time goes: one Grader (one worker, no pytest), the distinct programs of a samples file
built in batches and run, with the time of every request to the sandboxed runner added up by kind.

    python3 bench/breakdown.py bench/out/c1/samples.jsonl ../shared/datasets/humaneval-rust-164.jsonl
    python3 bench/breakdown.py S P --batch 32 --sandbox bwrap --timeout 10

Kinds: a batch build that succeeded / failed (its JSON diagnostics then split it), a sample's standalone
confirmation (`--emit=metadata` after it failed in a batch), a standalone build, a test run.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pytest_heval import Grader, Inputs, Settings, sample_programs  # noqa: E402


def kind_of(req, reply) -> str:
    argv = req.get("argv") or []
    if not argv or "rustc" not in os.path.basename(argv[0]):
        return "test run"
    if "--emit=metadata" in argv:
        return "confirmation alone (metadata)"
    if "--error-format=json" in argv:
        return "batch build, ok" if reply.get("rc") == 0 else "batch build, failed"
    return "build alone"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("samples")
    ap.add_argument("problems")
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--sandbox", default="firejail", choices=("firejail", "bwrap", "none"))
    ap.add_argument("--timeout", type=float, default=1.0, help="test run timeout (default 1 s: loops cost little)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many distinct programs (0: all)")
    args = ap.parse_args()

    inputs = Inputs([args.problems])
    grader = Grader(Settings(sandbox=args.sandbox, timeout=args.timeout, batch=args.batch))
    program_of = sample_programs(inputs, grader.settings, grader.toolchain)
    first = {}  # one ref per distinct program: the engine's own in-run dedup is not what is measured here
    for s in inputs.load(args.samples).samples:
        ref = (os.path.abspath(args.samples), s.index)
        first.setdefault(program_of(ref).key, ref)
    refs = list(first.values())[: args.limit or None]

    count: collections.Counter = collections.Counter()
    spent: collections.Counter = collections.Counter()
    request = grader.client.request

    def timed(req):
        t0 = time.monotonic()
        reply = request(req)
        k = kind_of(req, reply)
        count[k] += 1
        spent[k] += time.monotonic() - t0
        return reply

    grader.client.request = timed
    verdicts: collections.Counter = collections.Counter()
    t0 = time.monotonic()
    with grader:
        for _ref, v in grader.grade(refs, program_of, workers=0):  # batches of exactly --batch
            verdicts[v["error_type"] or "passed"] += 1
    wall = time.monotonic() - t0
    n = len(refs)
    print(f"{n} distinct programs, batch {args.batch}, {args.sandbox}, run timeout {args.timeout:g} s: "
          f"{wall:.1f} s, {wall / n * 1000:.1f} ms per program")
    for k, _ in spent.most_common():
        print(f"  {k:<32} {count[k]:>5} x {spent[k] / count[k] * 1000:7.1f} ms = {spent[k]:6.2f} s "
              f"({spent[k] / n * 1000:5.1f} ms per program)")
    other = wall - sum(spent.values())
    print(f"  {'outside the runner (files, plan)':<32} {'':>5}   {'':>7}      {other:6.2f} s ({other / n * 1000:5.1f} ms per program)")
    print("  verdicts: " + ", ".join(f"{k}={v}" for k, v in verdicts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
