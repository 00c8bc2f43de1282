#!/usr/bin/env python3
"""What the dataset crates (rand, regex, md5) cost: the one-time build, the cached lookup, and per program
the rustc time of an unused ``--extern`` and of a program that uses the crates.

    python3 bench/crates.py            # 10 rounds of each compile
    python3 bench/crates.py --n 20

CPU time (user+sys of rustc and its linker) is reported next to wall time: on a shared machine it is the
steadier figure. The cold build goes to a temporary cache dir (the real one is left alone).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pytest_heval.crates import CRATES, build_crates, crates_used  # noqa: E402
from pytest_heval.toolchain import BASE_FLAGS, find_toolchain  # noqa: E402

DATASETS = os.environ.get("HEVAL_DATASETS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))


def timed(fn):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = fn()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, time.perf_counter() - t0, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    args = ap.parse_args()
    tc = find_toolchain()
    print(f"{tc.version}; load average {os.getloadavg()[0]:.1f}")

    cache = tempfile.mkdtemp(prefix="heval-crates-bench-")
    try:
        cs, wall, cpu = timed(lambda: build_crates(tc.rustc, cache_dir=cache))
        print(f"cold build: {wall:.1f} s wall, {cpu:.1f} s CPU; {len(cs.files)} rlibs, "
              f"{sum(os.path.getsize(f) for f in cs.files) / 2**20:.1f} MiB; versions {cs.versions}")
        _, wall, _ = timed(lambda: build_crates(tc.rustc, cache_dir=cache))
        print(f"cached lookup (in-process): {wall * 1000:.1f} ms")
        d = tempfile.mkdtemp()
        _, wall, _ = timed(lambda: cs.install(os.path.join(d, "crates")))
        print(f"copy into a work root: {wall * 1000:.0f} ms")
        shutil.rmtree(d)

        with open(os.path.join(DATASETS, "humaneval-rust-164.jsonl")) as f:
            plain_row = json.loads(f.readline())
        with gzip.open(os.path.join(DATASETS, "humaneval-x-rust.jsonl.gz"), "rt") as f:
            x_row = json.loads(f.readline())
        plain = plain_row["prompt"] + plain_row["canonical_solution"] + "\n" + plain_row["test"]
        x = x_row["declaration"] + x_row["canonical_solution"] + "\n" + x_row["test"]
        x_without = "\n".join(line for line in x.splitlines()
                              if line.strip() not in ("use rand::Rng;", "use regex::Regex;", "use md5;"))
        assert not crates_used(plain) and not crates_used(x_without) and crates_used(x) == set(CRATES)
        all_args = cs.rustc_args(CRATES)
        cases = {"no crate named, no --extern": (plain, []),
                 "no crate named, all --extern (unused)": (plain, all_args),
                 "HumanEval-X Rust/0 without its crate uses": (x_without, []),
                 "HumanEval-X Rust/0 with the crates": (x, all_args)}
        work = tempfile.mkdtemp()
        results = {k: [] for k in cases}
        for _ in range(args.n):  # interleaved, so load changes hit every case alike
            for name, (src, extra) in cases.items():
                path = os.path.join(work, "p.rs")
                with open(path, "w") as f:
                    f.write(src)
                argv = [tc.rustc, "--edition=2021", "--test", *BASE_FLAGS, *extra, path, "-o", path[:-3]]
                r, wall, cpu = timed(lambda: subprocess.run(argv, capture_output=True, text=True))
                assert r.returncode == 0, r.stderr[-2000:]
                results[name].append((wall, cpu))
        shutil.rmtree(work)
        for name, v in results.items():
            print(f"{name:45s} median wall {statistics.median(w for w, _ in v) * 1000:5.0f} ms, "
                  f"CPU {statistics.median(c for _, c in v) * 1000:5.0f} ms (min {min(c for _, c in v) * 1000:.0f})")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
