#!/usr/bin/env python3
"""The cost of --heval-clippy: the same samples file graded by `pytest --heval` (firejail, -n 2) without clippy and
with it, one after the other, in one invocation; prints both wall times, samples/min, the ratio, the CPU seconds,
and checks that clippy changed no verdict (passed + error_type per sample).

Input: bench/throughput.py's (humaneval-rust-164 canonical + HumanEvalPack buggy, ~20% duplicate rows), or its
sigil set. This checkout's package is used (PYTHONPATH), with the python that runs this script.

  python3 bench/clippy.py                      # 1000 samples
  python3 bench/clippy.py --samples 400 --set sigil
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import shlex
import subprocess
import sys
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from throughput import BENCH, REPO, CpuMeter, make_samples, place, read_jsonl, tail  # noqa: E402


def grade(samples: str, problems: str, extra: List[str]) -> tuple:
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [sys.executable, "-m", "pytest", "--heval", samples, f"--heval-problems={problems}",
            "--heval-sandbox", "firejail", "-n", "2", "-p", "no:cacheprovider", "-q"] + extra
    log = samples + ".log"
    with open(log, "wb") as f, CpuMeter() as m:
        t0 = time.monotonic()
        rc = subprocess.run(argv, cwd=os.path.dirname(samples), stdout=f, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env).returncode
        wall = time.monotonic() - t0
    res = samples + "_results.jsonl"
    if rc not in (0, 1) or not os.path.exists(res):
        sys.exit(f"pytest exited {rc}; see {log}:\n{tail(log)}")
    return wall, m, read_jsonl(res)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=os.environ.get("HEVAL_DATASETS")
                    or os.path.join(os.path.dirname(REPO), "shared", "datasets"))
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--set", default="humaneval", choices=("humaneval", "sigil"))
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", default=os.path.join(BENCH, "out"))
    ap.add_argument("--heval-args", default="", help="more pytest options for both runs")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    extra = shlex.split(args.heval_args)
    rows, problems = make_samples(args.datasets, args.samples, args.seed, args.set)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{datetime.date.today()}  {rustc}  cpus={os.cpu_count()}  load={os.getloadavg()[0]:.2f}  set={args.set}  "
          f"samples={len(rows)}  heval-args={args.heval_args!r}", flush=True)
    grade(place(rows[:8], out, "clippy-warm"), problems, extra + ["--heval-clippy"])  # untimed: caches, bytecode

    runs: Dict[str, tuple] = {}
    for name, flags in (("without clippy", []), ("--heval-clippy", ["--heval-clippy"])):
        wall, m, res = grade(place(rows, out, "clippy-" + ("on" if flags else "off")), problems, extra + flags)
        runs[name] = (wall, m, res)
        print(f"{name}: wall {wall:.1f} s, CPU {m.cpu:.0f} s, others used {m.others:.2f} cores", flush=True)

    n = len(rows)
    (w0, m0, r0), (w1, m1, r1) = runs["without clippy"], runs["--heval-clippy"]
    print()
    print(f"{'run':<16} {'wall s':>7} {'samples/min':>12} {'CPU s':>7} {'others*':>8}")
    for name, (wall, m, _) in runs.items():
        print(f"{name:<16} {wall:>7.1f} {n / wall * 60:>12.0f} {m.cpu:>7.0f} {m.others:>8.2f}")
    print("* cores busy with processes other than this benchmark during the run (noise)")
    print(f"--heval-clippy / without: wall {w1 / w0:.2f}x, CPU {m1.cpu / m0.cpu:.2f}x")

    linted = [r for r in r1 if r.get("clippy_ok") is not None]
    clippy_s = sum(r.get("clippy_s") or 0.0 for r in linted if not r.get("reused"))
    compile_s = sum(r.get("compile_s") or 0.0 for r in r1 if not r.get("reused"))
    lints = collections.Counter(x for r in linted for x in set(r.get("clippy_lints") or ()))
    print(f"clippy-driver time summed over distinct programs: {clippy_s:.1f} s (their builds: {compile_s:.1f} s); "
          f"clippy_pass_rate {sum(bool(r['clippy_ok']) for r in linted) / max(1, len(linted)):.4f} "
          f"of {len(linted)} compiled; top lints: {', '.join(f'{k}={v}' for k, v in lints.most_common(5))}")
    a = {r["sample_index"]: (r["passed"], r["error_type"]) for r in r0}
    b = {r["sample_index"]: (r["passed"], r["error_type"]) for r in r1}
    diff = [i for i in a if a[i] != b.get(i)]
    print(f"verdicts (passed + error_type) changed by --heval-clippy: {len(diff)}"
          + (f" (rows {diff[:10]})" if diff else ""))
    return 1 if diff else 0



if __name__ == "__main__":
    sys.exit(main())
