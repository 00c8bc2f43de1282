#!/usr/bin/env python3
"""Scale benchmark: memory per sample and harness time per sample, at many rows and few distinct programs.

One invocation writes samples files of each size in ``--sizes`` (rows of ~1 KB: the 164 canonical solutions of
humaneval-rust-164 cycled, each row carrying a ``raw_generation`` and some metadata as model outputs do), warms a
verdict cache (``--heval-cache``) with one small run so that every verdict of the measured runs is reused (rustc
and the samples' own runs are then a small fixed cost: what is left is the harness: pytest, xdist, the plugin),
then runs ``pytest --heval FILE -n 2`` on each file and prints, per size:

* wall time; the controller's CPU seconds (its own, from ``getrusage`` in the controller process); the CPU seconds
  of every process of the run (controller, workers, their sandboxed runners);
* peak RSS (``VmHWM``) of the controller, of each worker and of each worker's runner.

Then the slopes: memory per added sample between consecutive sizes (the target: <= 3 KB per sample for the
controller and for each worker), and time per added sample between the two ``--time-sizes`` (targets: controller
CPU <= 1.2 ms, all processes <= 3.5 ms, measured as wall x 2 cores as the issue does, and as their CPU too).
Beside it, the same figures for bare pytest-xdist on trivial items (``--baseline``): what pytest itself costs.

  python3 bench/scale.py                                   # time at 5k and 30k, memory at 10k and 100k
  python3 bench/scale.py --sizes 10000,100000,1000000      # the 1M run takes a while
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

import orjson

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
CORES = 2  # the -n of every run, and the cores "all processes" is counted on

# runs pytest in this process and writes its own rusage (the controller's alone: not its children's) to argv[1]
DRIVER = r"""
import json, resource, sys, time
import pytest
out = sys.argv[1]
t0 = time.time()
code = pytest.main(sys.argv[2:])
ru = resource.getrusage(resource.RUSAGE_SELF)
with open(out, "w") as f:
    json.dump({"code": int(code), "wall": time.time() - t0, "cpu": ru.ru_utime + ru.ru_stime,
               "maxrss_kib": ru.ru_maxrss}, f)
"""

TRIVIAL = """
import pytest
N = int(__import__("os").environ["SCALE_N"])
@pytest.mark.parametrize("i", range(N))
def test_trivial(i):
    pass
"""


def read_jsonl(path: str) -> List[Dict[str, Any]]:
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def make_rows(datasets: str, n: int, path: str) -> str:
    """``n`` rows of ~1 KB over the 164 canonical solutions (164 distinct programs), written to ``path``."""
    problem_file = os.path.join(datasets, "humaneval-rust-164.jsonl")
    problems = read_jsonl(problem_file)
    with open(path, "wb") as f:
        for i in range(n):
            p = problems[i % len(problems)]
            c = p["canonical_solution"]
            row = {"task_id": p["task_id"], "completion": c,
                   "model": "bench-model-7b", "temperature": 0.8, "sample": i // len(problems),
                   "raw_generation": ("Here is the function:\n```rust\n" + c + "\n```\n")}
            line = orjson.dumps(row)
            pad = 1000 - len(line)
            if pad > 0:  # ~1 KB rows, as model outputs with their generation and metadata are
                row["raw_generation"] += "x" * pad
                line = orjson.dumps(row)
            f.write(line + b"\n")
    return problem_file


class Watch:
    """Polls /proc for the process tree under ``root``: each process's peak RSS (VmHWM) and CPU (utime+stime)."""

    def __init__(self, root: int):
        self.root = root
        self.procs: Dict[int, Dict[str, Any]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def _children(self) -> Dict[int, int]:
        parent: Dict[int, int] = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            parent[int(d)] = int(st.rsplit(")", 1)[1].split()[1])
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, pp in parent.items():
                if pp in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return {pid: parent.get(pid, 0) for pid in tree}

    def _loop(self) -> None:
        while not self.stop.is_set():
            for pid, pp in self._children().items():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        status = f.read()
                    with open(f"/proc/{pid}/stat") as f:
                        stat = f.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:160]
                except OSError:
                    continue
                hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
                cpu = (int(stat[11]) + int(stat[12])) / self.tick
                rec = self.procs.setdefault(pid, {"parent": pp, "cmd": cmd, "hwm_kib": 0, "cpu": 0.0})
                rec["hwm_kib"] = max(rec["hwm_kib"], hwm)
                rec["cpu"] = max(rec["cpu"], cpu)
                rec["cmd"] = cmd or rec["cmd"]
            self.stop.wait(0.25)

    def roles(self) -> Dict[str, Any]:
        """controller; workers (python children running xdist's worker); runners (anything below a worker)."""
        # xdist's popen workers: execnet starts them as `python -u -c "import sys;exec(eval(sys.stdin.readline()))"`
        # (other short-lived python children of pytest, e.g. probes, are not workers)
        workers = {pid: r for pid, r in self.procs.items() if r["parent"] == self.root and "exec(eval(" in r["cmd"]}

        def below(pid: int) -> List[int]:
            out = [p for p, r in self.procs.items() if r["parent"] == pid]
            return out + [q for p in out for q in below(p)]

        runners = {}
        for w in workers:
            sub = below(w)
            runners[w] = {"hwm_kib": max((self.procs[p]["hwm_kib"] for p in sub), default=0),
                          "cpu": sum(self.procs[p]["cpu"] for p in sub)}
        return {"workers": [{"hwm_kib": r["hwm_kib"], "cpu": r["cpu"], "runner_hwm_kib": runners[p]["hwm_kib"],
                             "runner_cpu": runners[p]["cpu"]} for p, r in sorted(workers.items())],
                "all_cpu": sum(r["cpu"] for r in self.procs.values())}


def run(argv: List[str], cwd: str, env: Dict[str, str], log: str) -> Dict[str, Any]:
    out = os.path.join(cwd, "driver.json")
    if os.path.exists(out):
        os.unlink(out)
    t0 = time.time()
    with open(log, "wb") as lf:
        p = subprocess.Popen([sys.executable, "-c", DRIVER, out] + argv, cwd=cwd, env=env, stdout=lf,
                             stderr=subprocess.STDOUT)
        with Watch(p.pid) as w:
            p.wait()
    wall = time.time() - t0
    with open(out) as f:
        d = json.load(f)
    if d["code"] not in (0, 1):  # 1: some samples failed (none do here); anything else is the harness's
        sys.exit(f"pytest exited {d['code']}: see {log}")
    roles = w.roles()
    ctl = w.procs.get(p.pid, {})
    return {"code": d["code"], "wall": wall, "ctl_cpu": d["cpu"],
            "ctl_hwm_kib": max(d["maxrss_kib"], ctl.get("hwm_kib", 0)), "workers": roles["workers"],
            # the controller's exact CPU + what the poll saw of the others (a process's last 0.25 s may be missed)
            "all_cpu": d["cpu"] + roles["all_cpu"] - ctl.get("cpu", 0.0)}


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def show(name: str, n: int, r: Dict[str, Any]) -> None:
    ws = "  ".join(f"w{i}: {fmt_mib(w['hwm_kib'])} (runner {fmt_mib(w['runner_hwm_kib'])}), {w['cpu']:.1f} CPU-s"
                   for i, w in enumerate(r["workers"]))
    print(f"{name} {n:>8} rows: exit {r['code']}, {r['wall']:.1f} s wall, controller {r['ctl_cpu']:.1f} CPU-s "
          f"{fmt_mib(r['ctl_hwm_kib'])}, all processes {r['all_cpu']:.1f} CPU-s; {ws}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=os.path.join(os.path.dirname(REPO), "shared", "datasets"))
    ap.add_argument("--sizes", default="10000,100000", help="rows of the memory runs (e.g. 10000,100000,1000000)")
    ap.add_argument("--time-sizes", default="5000,30000", help="rows of the two time runs")
    ap.add_argument("--out", default=os.path.join(BENCH, "out", "scale"))
    ap.add_argument("--no-baseline", action="store_true", help="skip bare pytest-xdist on trivial items")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tsizes = [int(s) for s in args.time_sizes.split(",") if s]
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    cache = os.path.join(args.out, "verdict-cache")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    import pytest_heval
    print(f"{datetime.date.today()}  {rustc}  cpus={os.cpu_count()}  load={load}  pytest_heval="
          f"{os.path.dirname(pytest_heval.__file__)}  out={args.out}", flush=True)

    def heval(n: int) -> Dict[str, Any]:
        d = os.path.join(args.out, f"n{n}")
        os.makedirs(d, exist_ok=True)
        samples = os.path.join(d, "samples.jsonl")
        if not os.path.exists(samples) or os.path.getsize(samples) < n * 900:
            problems = make_rows(args.datasets, n, samples)
        else:
            problems = os.path.join(args.datasets, "humaneval-rust-164.jsonl")
        for f in os.listdir(d):
            if f.startswith("samples_") or f.endswith(".previous"):
                os.unlink(os.path.join(d, f))
        argv = ["samples.jsonl", "--heval", f"--heval-problems={problems}", f"--heval-cache={cache}", "-n", str(CORES),
                "-p", "no:cacheprovider", "-q"]
        return run(argv, d, env, os.path.join(d, "log.txt"))

    def bare(n: int) -> Dict[str, Any]:
        d = os.path.join(args.out, f"bare{n}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "test_trivial.py"), "w") as f:
            f.write(TRIVIAL)
        with open(os.path.join(d, "pytest.ini"), "w") as f:
            f.write("[pytest]\n")
        return run(["test_trivial.py", "-n", str(CORES), "-p", "no:cacheprovider", "-q"], d,
                   dict(env, SCALE_N=str(n)), os.path.join(d, "log.txt"))

    print("warming the verdict cache (164 distinct programs, graded once)...", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    warm = heval(328)
    show("warm-up", 328, warm)

    results: Dict[str, Dict[int, Dict[str, Any]]] = {"heval": {}, "bare": {}}
    for n in sorted(set(tsizes + sizes)):
        results["heval"][n] = r = heval(n)
        show("pytest-heval", n, r)
        if not args.no_baseline and n in tsizes:
            results["bare"][n] = b = bare(n)
            show("bare xdist  ", n, b)

    print("\nmemory per added sample (peak RSS; target <= 3 KB per sample, controller and each worker):")
    ms = sorted(sizes)
    for a, b in zip(ms, ms[1:]):
        ra, rb = results["heval"][a], results["heval"][b]
        dn = b - a
        ctl = (rb["ctl_hwm_kib"] - ra["ctl_hwm_kib"]) * 1024 / dn
        wk = [(wb["hwm_kib"] - wa["hwm_kib"]) * 1024 / dn for wa, wb in zip(ra["workers"], rb["workers"])]
        rn = [(wb["runner_hwm_kib"] - wa["runner_hwm_kib"]) * 1024 / dn for wa, wb in zip(ra["workers"],
                                                                                       rb["workers"])]
        worst = max([ctl] + wk)
        print(f"  {a} -> {b} rows: controller {ctl:.0f} B/sample, workers "
              + ", ".join(f"{x:.0f}" for x in wk) + " B/sample (runners " + ", ".join(f"{x:.0f}" for x in rn)
              + f"): {'MET' if worst <= 3072 else 'NOT MET'} (worst {worst / 1024:.2f} KB)")

    if len(tsizes) == 2:
        a, b = sorted(tsizes)
        dn = b - a
        print(f"\nharness time per added sample, {a} -> {b} rows, every verdict reused, -n {CORES}:")
        for name in ("heval", "bare"):
            if b not in results[name] or a not in results[name]:
                continue
            ra, rb = results[name][a], results[name][b]
            ctl = (rb["ctl_cpu"] - ra["ctl_cpu"]) * 1000 / dn
            wall2 = (rb["wall"] - ra["wall"]) * CORES * 1000 / dn
            allc = (rb["all_cpu"] - ra["all_cpu"]) * 1000 / dn
            label = "pytest-heval" if name == "heval" else "bare pytest-xdist, trivial items"
            line = (f"  {label}: controller CPU {ctl:.2f} ms, all processes {wall2:.2f} ms (wall x {CORES}), "
                    f"{allc:.2f} ms (their CPU)")
            if name == "heval":
                line += (f"  [targets: controller <= 1.2 ms {'MET' if ctl <= 1.2 else 'NOT MET'}; all <= 3.5 ms "
                         f"{'MET' if wall2 <= 3.5 else 'NOT MET'}]")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
