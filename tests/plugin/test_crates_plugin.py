"""``--heval-crates`` through a real ``pytest --heval`` subprocess: HumanEval-X samples grade with the crates (built
before any worker starts, from the cache when there) and crates that cannot be had are a usage error up front."""

from __future__ import annotations

import gzip
import json
import os

from tests.helpers import ADD_PROBLEM, result_rows, write_jsonl


def _x_files(pytester, datasets, n):
    problems = datasets / "humaneval-x-rust.jsonl.gz"
    with gzip.open(problems, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    samples = write_jsonl(pytester.path / "x.jsonl", [{"task_id": r["task_id"], "completion": r["canonical_solution"]}
                                                      for r in rows])
    return problems, samples


def _env(pytester):
    # pytester's HOME is temporary: keep the real crate cache (built once) reachable
    pytester._monkeypatch.setenv("XDG_CACHE_HOME", os.environ.get("XDG_CACHE_HOME")
                                 or os.path.expanduser("~/.cache"))


def test_humaneval_x_samples_grade_with_the_crates_under_xdist(pytester, datasets):
    _env(pytester)
    problems, samples = _x_files(pytester, datasets, 12)
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", samples, f"--heval-problems={problems}",
                                      "-n", "2")
    assert r.ret == 0, r.stdout.str()[-3000:]
    rows = result_rows(samples)
    assert len(rows) == 12 and all(row["passed"] for row in rows)
    with open(str(samples) + "_metrics.json") as f:
        assert json.load(f)["crates"]  # the crate set is recorded (and in the verdict-cache fingerprint)


def test_missing_crate_sources_are_a_usage_error(pytester, datasets):
    _env(pytester)
    problems, samples = _x_files(pytester, datasets, 2)
    empty = pytester.mkdir("empty-crates")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", samples, f"--heval-problems={problems}",
                                      "--heval-crates", empty)
    assert r.ret == 4, r.stdout.str()[-3000:]
    err = r.stderr.str()
    assert "2 problem(s) import dataset crates (Rust/0, Rust/1)" in err
    assert "the crates md5, rand, regex are needed" in err and str(empty) in err
    assert "Traceback" not in err + r.stdout.str()
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", samples, f"--heval-problems={problems}",
                                      "--heval-crates", pytester.path / "nope")
    assert r.ret == 4 and "--heval-crates:" in r.stderr.str() and "is not a directory" in r.stderr.str()


def test_runs_that_name_no_crate_do_not_need_them(pytester):
    """Programs that name no crate never ask for them: a missing crate dir does not matter to them."""
    problems = write_jsonl(pytester.path / "p.jsonl", [ADD_PROBLEM])
    samples = write_jsonl(pytester.path / "s.jsonl", [{"task_id": "Add/0", "completion": "    a + b\n}\n"}])
    empty = pytester.mkdir("empty-crates")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", samples, f"--heval-problems={problems}",
                                      "--heval-crates", empty)
    assert r.ret == 0, r.stdout.str()[-3000:]


def test_crates_none_builds_them_without(pytester, datasets):
    """The opt-out: no crates wanted (to grade as a harness without them would): those programs fail to compile."""
    problems, samples = _x_files(pytester, datasets, 2)
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", samples, f"--heval-problems={problems}",
                                      "--heval-crates", "none")
    assert r.ret == 1, r.stdout.str()[-3000:]
    rows = result_rows(samples)
    assert [row["error_type"] for row in rows] == ["compile_error", "compile_error"]
    assert "rand" in rows[0]["stderr"]
    with open(str(samples) + "_metrics.json") as f:
        assert json.load(f)["crates"] == "none"
