"""End to end on a real dataset: every verdict must equal a plain standalone rustc compile-and-run.

164 HumanEval Rust problems, completed once with their canonical solution (144 pass under standalone
rustc, 20 do not compile) and once with HumanEvalPack's deliberately buggy solution (none pass),
graded by `pytest --heval -n 2` inside firejail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import read_jsonl, result_rows, write_jsonl

STANDALONE_TIMEOUT = 10


def standalone_passes(program: str, rustc: str) -> bool:
    """The naive reference: rustc --edition=2021 --test, run the binary, pass iff libtest says ok."""
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "p.rs"), os.path.join(d, "p")
        with open(src, "w") as f:
            f.write(program)
        c = subprocess.run([rustc, "--edition=2021", "--test", "-C", "opt-level=0", "-C", "debuginfo=0", src,
                            "-o", exe], capture_output=True)
        if c.returncode != 0:
            return False
        try:
            r = subprocess.run([exe], capture_output=True, timeout=STANDALONE_TIMEOUT,
                               env={"PATH": "/usr/bin:/bin", "RUST_BACKTRACE": "0"}, start_new_session=True)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and re.search(rb"test result: ok\. [1-9]\d* passed; 0 failed", r.stdout) is not None


def test_humaneval_164_canonical_and_buggy_match_standalone_rustc(tmp_path, datasets):
    problems = read_jsonl(datasets / "humaneval-rust-164.jsonl")
    buggy = {r["task_id"].replace("Rust/", "HumanEval/"): r["buggy_solution"]
             for r in read_jsonl(datasets / "humanevalpack-rust.jsonl")}
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"], "kind": "canonical"} for p in problems]
    samples += [{"task_id": p["task_id"], "completion": buggy[p["task_id"]], "kind": "buggy"} for p in problems]
    path = write_jsonl(tmp_path / "samples.jsonl", samples)

    r = subprocess.run([sys.executable, "-m", "pytest", "--heval", str(path), "--heval-problems",
                        str(datasets / "humaneval-rust-164.jsonl"), "--heval-sandbox", "firejail", "-n", "2",
                        "-p", "no:cacheprovider", "-q", "--junitxml", str(tmp_path / "junit.xml")],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]  # some samples fail, no gate given
    assert "328 rows for 328 samples: complete" in r.stdout

    rows = result_rows(path)
    assert [row["sample_index"] for row in rows] == list(range(328))
    assert all(row["error_type"] != "infra_error" for row in rows), [row["result"] for row in rows
                                                                     if row["error_type"] == "infra_error"]

    by_task = {p["task_id"]: p for p in problems}
    rustc = os.path.join(subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True)
                         .stdout.strip(), "bin", "rustc")
    programs = [by_task[s["task_id"]]["prompt"] + s["completion"] + "\n" + by_task[s["task_id"]]["test"]
                for s in samples]
    with ThreadPoolExecutor(2) as pool:
        reference = list(pool.map(lambda p: standalone_passes(p, rustc), programs))

    mismatches = [(s["task_id"], s["kind"], ref, row["passed"], row["result"])
                  for s, ref, row in zip(samples, reference, rows) if ref != row["passed"]]
    assert mismatches == []
    assert sum(row["passed"] for row in rows[:164]) == 144
    assert sum(row["passed"] for row in rows[164:]) == 0
    # a canonical solution that does not compile standalone is a compile_error here too
    assert sum(row["error_type"] == "compile_error" for row in rows[:164]) == 20
