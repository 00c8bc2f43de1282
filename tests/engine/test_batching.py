"""Batched builds (many samples per rustc) must give exactly the verdicts of one-sample-per-rustc builds."""

from __future__ import annotations

import pytest

from tests.helpers import read_jsonl
from pytest_heval.inputs.problems import Problem, load_problems
from pytest_heval.program import assemble
from tests.helpers import grader


@pytest.fixture(scope="module")
def executor():
    with grader("firejail", timeout=5) as g:
        yield g


def judge_all(g, programs, batched: bool):
    return g.grade_programs(programs, batch=None if batched else 1)


def test_batched_equals_unbatched_on_sigil_180(executor, datasets):
    """humaneval-rust-sigil-180 (edition 2024): canonical solutions, plus the same with every tenth one
    broken so that batches hold modules that fail to compile."""
    problems = load_problems([str(datasets / "humaneval-rust-sigil-180.jsonl")])
    rows = read_jsonl(datasets / "humaneval-rust-sigil-180.jsonl")
    programs = []
    for i, r in enumerate(rows):
        completion = r["canonical_solution"]
        if i % 10 == 3:
            completion = completion.replace("let ", "let let ", 1) if "let " in completion else "}}" + completion
        elif i % 10 == 7:
            completion = "    let _undefined = not_a_function_anywhere();\n" + completion
        programs.append(assemble(problems[r["task_id"]], completion))
    batched = judge_all(executor, programs[:90], True) + judge_all(executor, programs[90:], True)
    alone = judge_all(executor, programs, False)
    diff = [(rows[i]["task_id"], b["error_type"], a["error_type"])
            for i, (b, a) in enumerate(zip(batched, alone))
            if (b["passed"], b["error_type"]) != (a["passed"], a["error_type"])]
    assert diff == []
    assert sum(v["error_type"] == "compile_error" for v in batched) >= 36  # the broken ones, at least
    assert sum(v["passed"] for v in batched) >= 100
    # a compile error's stderr is its own standalone build's: it names its own file, not a batch module
    for b, a in zip(batched, alone):
        if b["error_type"] == "compile_error":
            assert "s00" not in b["stderr"] and "main.rs" in b["stderr"]


ADD = Problem("A/0", "fn add(a: i32, b: i32) -> i32 {\n",
              "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(2, 3), 5); }\n}\n",
              "2021", "humaneval", "test")


def test_samples_of_one_batch_cannot_touch_each_other(executor):
    writer = ('let _ = std::fs::write("left-behind", "x"); '
              'let _ = std::fs::write(std::env::current_exe().unwrap(), b"clobbered"); a + b\n}\n')
    reader = 'if std::path::Path::new("left-behind").exists() { 0 } else { a + b }\n}\n'
    programs = [assemble(ADD, writer), assemble(ADD, reader), assemble(ADD, "  a + b // third\n}\n")]
    builds = executor.builder.batch_builds
    verdicts = executor.grade_programs(programs)
    assert executor.builder.batch_builds == builds + 1  # one crate for the three
    assert [v["passed"] for v in verdicts] == [True, True, True], [v["result"] for v in verdicts]
