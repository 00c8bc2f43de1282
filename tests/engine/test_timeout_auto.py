"""``--heval-timeout auto`` in the engine: the canonical solutions are graded through the Grader once, their CPU
times cached per problem file + toolchain, and each problem's limit is max(min, factor x that time)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from pytest_heval import Inputs, Settings
from pytest_heval import timeouts as auto
from pytest_heval.inputs.problems import Problem
from pytest_heval.sandbox import get_sandbox
from pytest_heval.toolchain import find_toolchain

NO_CANONICAL = Problem("Add/0", "fn add(a: i32, b: i32) -> i32 {\n",
                       "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(2, 3), 5); }\n}\n",
                       "2021", "humaneval", "inline:1")


def test_calibration_is_cached_and_gives_each_problem_its_limit(datasets, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    problems = Inputs([str(datasets / "humaneval-rust-164.jsonl")]).problems
    # HumanEval/6's canonical solution does not compile in this file (no `use` for max): it keeps the fixed limit
    chosen = [problems["HumanEval/0"], problems["HumanEval/13"], problems["HumanEval/6"], NO_CANONICAL]
    settings = Settings(sandbox="bwrap", timeout="auto")
    tc, sb = find_toolchain(), get_sandbox("bwrap")
    cpu = auto.calibrate(chosen, settings, tc, sb)
    assert cpu["HumanEval/6"] is None and cpu["Add/0"] is None
    assert 0 < cpu["HumanEval/0"] < 1 and 0 < cpu["HumanEval/13"] < 1
    assert auto.problem_timeouts(chosen, settings, tc, sb) == {"HumanEval/0": 1.0, "HumanEval/13": 1.0}
    big = Settings(sandbox="bwrap", timeout="auto", timeout_factor=1000.0)
    assert auto.problem_timeouts(chosen, big, tc, sb)["HumanEval/0"] == round(max(1.0, 1000 * cpu["HumanEval/0"]), 2)
    (cached,) = os.listdir(tmp_path / "cache" / "pytest-heval" / "timeouts")

    class NoGrader:  # a second calibration must measure nothing
        def __init__(self, *a, **k):
            raise AssertionError("calibrated again despite the cache")

    monkeypatch.setattr(auto, "Grader", NoGrader)
    assert auto.calibrate(chosen, settings, tc, sb) == cpu
    # another toolchain is another cache entry (measured again)
    with pytest.raises(AssertionError, match="calibrated again"):
        auto.calibrate(chosen, settings, dataclasses.replace(tc, version="rustc 0.0.0"), sb)


def test_a_problem_limit_is_part_of_the_program_key():
    from pytest_heval.program import assemble

    p = assemble(NO_CANONICAL, "    a + b\n}\n")
    assert p.key != dataclasses.replace(p, timeout=1.0).key != dataclasses.replace(p, timeout=2.0).key
