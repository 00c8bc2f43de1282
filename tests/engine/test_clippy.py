"""--heval-clippy in the engine: clippy-driver in the sandbox, batched like builds, blaming a sample only for lints in
its own completion."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_heval.inputs.problems import Problem, load_problems
from pytest_heval.program import assemble
from tests.helpers import ADD_MAIN_PROBLEM, grader, read_jsonl


@pytest.fixture(scope="module")
def linting():
    with grader("firejail", timeout=5, clippy=True) as g:
        yield g


@pytest.mark.parametrize("dataset", ["humaneval-rust-164.jsonl", "humaneval-rust-sigil-180.jsonl"])
def test_batched_clippy_equals_clippy_alone(linting, datasets, dataset):
    """The canonical solutions graded in batches give, sample by sample, the clippy_ok (and the lints) of
    clippy-driver run alone on that sample's whole program (editions 2021 and 2024)."""
    problems = load_problems([str(datasets / dataset)])
    rows = read_jsonl(datasets / dataset)
    programs = [assemble(problems[r["task_id"]], r["canonical_solution"]) for r in rows]
    batch_runs = linting.linter.batch_runs
    verdicts = linting.grade_programs(programs)
    assert linting.linter.batch_runs > batch_runs  # it did lint in batches
    diff = []
    for r, p, v in zip(rows, programs, verdicts):
        if not v["compile_ok"]:
            assert "clippy_ok" not in v  # not linted: the row says null
            continue
        alone = linting.linter.lint_alone(p)
        if (v["clippy_ok"], v["clippy_lints"]) != (alone.ok, list(alone.lints)):
            diff.append((r["task_id"], v["clippy_ok"], v["clippy_lints"], alone.ok, alone.lints))
    assert diff == []
    ok = [v["clippy_ok"] for v in verdicts if v["compile_ok"]]
    assert len(ok) >= 140 and 0 < sum(ok) < len(ok)  # both outcomes occur
    if dataset == "humaneval-rust-164.jsonl":  # most of its canonical solutions end in a needless `return`
        assert sum("clippy::needless_return" in v["clippy_lints"] for v in verdicts if v["compile_ok"]) >= 50


# A problem whose own text is full of lints: a `&Vec` parameter in the prompt (clippy::ptr_arg), a needless
# `return` and `x == true` comparisons in the tests. None of them is the completion's. Its prompt's non-ASCII text
# and CRLF line ends move byte offsets away from character offsets.
LINTY = Problem(
    "Linty/0", "/// Sums → all the ünits\r\nfn total(v: &Vec<i32>) -> i32 {\r\n",
    "#[cfg(test)]\nmod tests {\n    use super::*;\n    fn helper() -> i32 {\n        return 3;\n    }\n"
    "    #[test]\n    fn t() {\n        let mut unused = 1;\n        assert_eq!(total(&vec![1, 2]) == helper(), true);\n"
    "    }\n}\n", "2021", "humaneval", "test")
CLEAN = "    v.iter().sum()\n}\n"
NEEDLESS_RETURN = "    let s: i32 = v.iter().sum();\n    return s;\n}\n"
HELPER_WITH_LINT = "    v.iter().sum()\n}\n\nfn unused_helper(x: i32) -> i32 {\n    x\n}\n"
# its own `main`: the entry point at a crate's root (used), a dead function in a batch crate's module
WITH_MAIN = "    v.iter().sum()\n}\n\nfn main() {\n    println!(\"{}\", total(&vec![1]));\n}\n"


@pytest.mark.parametrize("batch", [None, 1], ids=["batched", "alone"])
def test_only_the_completions_own_lints_count(linting, batch):
    completions = (CLEAN, NEEDLESS_RETURN, HELPER_WITH_LINT, CLEAN + "// twin\n", WITH_MAIN)
    programs = [assemble(LINTY, c) for c in completions]
    v = linting.grade_programs(programs, batch=batch)
    assert [x["passed"] for x in v] == [True] * 5
    assert [x["clippy_ok"] for x in v] == [True, False, False, True, True]
    assert v[4]["clippy_lints"] == []
    assert v[0]["clippy_lints"] == [] and v[3]["clippy_lints"] == []  # the prompt's and the tests' lints are not theirs
    assert v[1]["clippy_lints"] == ["clippy::needless_return"]
    assert v[2]["clippy_lints"] == ["dead_code"]
    if batch is None:
        assert v[0]["binary_size_bytes"] is None  # a module of a batch crate has no binary of its own
    else:
        assert v[0]["binary_size_bytes"] > 1000 and v[0]["compile_s"] > 0


def test_the_problems_own_lints_are_there_and_only_the_span_keeps_them_out(linting):
    """The same program, every line of it counted as the completion: clippy does find the prompt's and the tests'
    lints (so the test above proves the filter, not a quiet problem)."""
    p = assemble(LINTY, CLEAN)
    whole = linting.linter.lint_alone(dataclasses.replace(p, completion_span=(0, len(p.body))))
    assert whole.ok is False
    assert {"clippy::ptr_arg", "clippy::needless_return", "clippy::bool_assert_comparison",
            "unused_variables"} <= set(whole.lints)
    assert linting.linter.lint_alone(p).ok is True


def test_main_style_is_linted_alone_and_a_compile_error_is_not_linted(linting):
    p = Problem("AddMain_0", ADD_MAIN_PROBLEM["prompt"], ADD_MAIN_PROBLEM["tests"], "2021", "multipl-e", "tests")
    programs = [assemble(p, "    return a + b;\n"), assemble(p, "    a + b\n"), assemble(p, "    a +\n")]
    v = linting.grade_programs(programs)
    assert [x["passed"] for x in v] == [True, True, False]
    assert (v[0]["clippy_ok"], v[0]["clippy_lints"]) == (False, ["clippy::needless_return"])
    assert (v[1]["clippy_ok"], v[1]["clippy_lints"]) == (True, [])
    assert "clippy_ok" not in v[2] and v[2]["error_type"] == "compile_error"
    # main style batches now (issue 11.1): the two that build share one binary, whose size is no one's own
    assert linting.builder.batch_builds >= 1 and v[0]["binary_size_bytes"] is None
    alone = linting.grade_programs(programs[:1], batch=1)[0]
    assert alone["binary_size_bytes"] > 1000 and alone["clippy_lints"] == ["clippy::needless_return"]


def test_clippy_args_set_the_lint_levels():
    """Warnings only (no -D): lints are listed, the sample passes clippy; a lint allowed is not listed."""
    programs = [assemble(LINTY, NEEDLESS_RETURN), assemble(LINTY, HELPER_WITH_LINT)]
    with grader("firejail", timeout=5, clippy=True, clippy_args="-W warnings -A dead_code") as g:
        v = g.grade_programs(programs)
    assert (v[0]["clippy_ok"], v[0]["clippy_lints"]) == (True, ["clippy::needless_return"])
    assert (v[1]["clippy_ok"], v[1]["clippy_lints"]) == (True, [])


def test_without_clippy_nothing_is_linted():
    with grader("firejail", timeout=5) as g:
        v = g.grade_programs([assemble(LINTY, NEEDLESS_RETURN)])
        assert g.linter is None
    assert v[0]["passed"] and "clippy_ok" not in v[0]
