"""End to end on a real dataset: every verdict must equal a plain standalone rustc compile-and-run.

164 HumanEval Rust problems, completed once with their canonical solution and once with HumanEvalPack's
deliberately buggy solution (none pass), graded by `pytest --heval -n 2` inside firejail with the default
completion form `auto` and the dataset crates; the reference is standalone rustc on the program `auto`
extracted, given the crates it names. As written, with no crates, 144 canonical solutions pass and 20 do not
compile; HumanEval/162 needs md5 (the crates), and HumanEval/11, 118, 119 repeat the prompt's signature (`auto`
reads them as full functions): 148 pass, 16 do not compile.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from pytest_heval.crates import build_crates, crates_used
from pytest_heval.inputs.problems import problem_from_row
from pytest_heval.program.forms import form_for

from tests.helpers import read_jsonl, result_rows, write_jsonl

STANDALONE_TIMEOUT = 10


def standalone_passes(program: str, rustc: str) -> bool:
    """The naive reference: rustc --edition=2021 --test (with the dataset crates the program names), run the binary,
    pass iff libtest says ok."""
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "p.rs"), os.path.join(d, "p")
        with open(src, "w") as f:
            f.write(program)
        crates = build_crates(rustc).rustc_args(crates_used(program))  # from the cache after the first time
        c = subprocess.run([rustc, "--edition=2021", "--test", "-C", "opt-level=0", "-C", "debuginfo=0", *crates,
                            src, "-o", exe], capture_output=True)
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

    r = subprocess.run([sys.executable, "-m", "pytest", "--heval", str(path),
                        f"--heval-problems={datasets / 'humaneval-rust-164.jsonl'}", "--heval-sandbox", "firejail", "-n", "2",
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
    programs = []
    for s in samples:
        problem = problem_from_row("humaneval-rust-164.jsonl", 1, by_task[s["task_id"]])
        formed = form_for(problem, s["completion"])
        programs.append(formed.head + formed.completion + "\n" + problem.test)
    full = {(s["task_id"], s["kind"]) for s, row in zip(samples, rows) if row["completion_form"] != "continuation"}
    assert full == {("HumanEval/11", "canonical"), ("HumanEval/118", "canonical"), ("HumanEval/119", "canonical")}
    assert all(row["completion_form"] in ("continuation", "full_function") for row in rows)
    with ThreadPoolExecutor(2) as pool:
        reference = list(pool.map(lambda p: standalone_passes(p, rustc), programs))

    mismatches = [(s["task_id"], s["kind"], ref, row["passed"], row["result"])
                  for s, ref, row in zip(samples, reference, rows) if ref != row["passed"]]
    assert mismatches == []
    assert sum(row["passed"] for row in rows[:164]) == 148
    assert sum(row["passed"] for row in rows[164:]) == 0
    # a canonical solution that does not compile standalone is a compile_error here too
    assert sum(row["error_type"] == "compile_error" for row in rows[:164]) == 16
