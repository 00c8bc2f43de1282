"""The Grader on its own (no pytest in the loop): the demo samples get the outcome their ``expect`` field names,
duplicates are judged once, the verdict cache makes a second run build nothing, and a broken sandbox gives
infra_error verdicts, never an exception."""

from __future__ import annotations

import os

from pytest_heval import Grader, Inputs, Settings, sample_programs
from pytest_heval.sandbox.jails import Bwrap
from tests.helpers import REPO, write_jsonl

SAMPLES = str(REPO / "samples" / "samples.jsonl")
PROBLEMS = str(REPO / "samples" / "problems.jsonl")
FAST = dict(sandbox="bwrap", timeout=2.0, compile_timeout=5.0)


def test_demo_samples_through_the_grader():
    inputs = Inputs([PROBLEMS])
    refs = [(SAMPLES, s.index) for s in inputs.load(SAMPLES).samples]
    with Grader(Settings(**FAST)) as g:
        got = list(g.grade(refs, sample_programs(inputs, g.settings, g.toolchain)))
        assert g.builder.batch_builds >= 1  # the batchable ones were built together
    assert [ref for ref, _ in got] == refs
    for (path, index), v in got:
        row = inputs.get(path, index)[0].row
        assert (v["error_type"] or "passed") == row["expect"], (row["task_id"], index, v["result"])
        assert isinstance(v["duration_s"], float)


def _add_files(tmp_path, completions):
    problems = write_jsonl(tmp_path / "p.jsonl", [{
        "task_id": "Add/0", "prompt": "fn add(a: i32, b: i32) -> i32 {\n",
        "test": "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(2, 3), 5); }\n}\n"}])
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "Add/0", "completion": c} for c in completions])
    inputs = Inputs([str(problems)])
    return inputs, [(str(samples), i) for i in range(len(completions))]


def test_duplicates_are_judged_once_and_the_cache_builds_nothing_the_second_time(tmp_path):
    inputs, refs = _add_files(tmp_path, ["  a + b\n}\n", "  a - b\n}\n", "  a + b\n}\n", "  b + a\n}\n"])
    settings = Settings(cache=str(tmp_path / "cache"), **FAST)
    with Grader(settings) as g:
        first = [v for _, v in g.grade(refs, sample_programs(inputs, settings, g.toolchain))]
        builds = g.builder.batch_builds + g.builder.alone_builds
    assert [v["passed"] for v in first] == [True, False, True, True]
    assert first[2].get("reused") is True and not first[0].get("reused")
    assert builds >= 1
    with Grader(settings) as g:
        second = [v for _, v in g.grade(refs, sample_programs(inputs, settings, g.toolchain))]
        assert g.builder.batch_builds + g.builder.alone_builds == 0
        assert g.client.root is None  # not even the jail was started
    assert [v["passed"] for v in second] == [True, False, True, True]
    assert all(v.get("cached") or v.get("reused") for v in second)


class BrokenJail(Bwrap):
    """A sandbox whose runner cannot start (its executable does not exist)."""

    def __init__(self):
        super().__init__(exe=os.path.join(os.sep, "nonexistent", "bwrap"))


def test_a_sandbox_that_cannot_start_gives_infra_errors_not_exceptions(tmp_path):
    inputs, refs = _add_files(tmp_path, ["  a + b\n}\n", "  a * b\n}\n"])
    with Grader(Settings(**FAST), sandbox=BrokenJail()) as g:
        got = [v for _, v in g.grade(refs, sample_programs(inputs, g.settings, g.toolchain))]
    assert [v["error_type"] for v in got] == ["infra_error", "infra_error"]
    assert all("build failed" in v["result"] for v in got), [v["result"] for v in got]
