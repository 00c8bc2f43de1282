"""The pytest side of `pytest --heval`, run for real (rustc + sandbox) through pytester subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM, read_jsonl, result_rows, write_jsonl

GOOD = "    a + b\n}\n"
WRONG = "    a - b\n}\n"
BROKEN = "    a + \n}\n"
EXIT0 = "    std::process::exit(0)\n}\n"


def _samples(pytester, rows, name="samples.jsonl"):
    return write_jsonl(pytester.path / name, rows)


def _problems(pytester, rows=(ADD_PROBLEM,), name="problems.jsonl"):
    return write_jsonl(pytester.path / name, rows)


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *[str(a) for a in args])


MIXED = [
    {"task_id": "Add/0", "completion": GOOD, "model": "m"},
    {"task_id": "Add/0", "completion": WRONG, "model": "m"},
    {"task_id": "Add/0", "completion": BROKEN, "model": "m"},
    {"task_id": "Add/0", "completion": EXIT0, "model": "m"},
    {"task_id": "Add/0", "completion": GOOD, "model": "m"},
]


def test_without_heval_the_plugin_does_nothing(pytester):
    _samples(pytester, MIXED)
    pytester.makepyfile(test_plain="def test_x():\n    assert True\n")
    r = run(pytester)  # the directory holds samples.jsonl: without --heval it is not collected
    r.assert_outcomes(passed=1)
    r = run(pytester, "samples.jsonl")  # naming it: not pytest's puzzling "not found", but what to add
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "Traceback" not in r.stderr.str()
    assert "samples.jsonl looks like a samples file: add --heval" in r.stderr.str()
    assert "pytest-heval summary" not in r.stdout.str()
    assert not (pytester.path / "samples.jsonl_results.jsonl").exists()


def test_items_are_named_task_and_row_index_in_file_order(pytester):
    _problems(pytester)
    _samples(pytester, MIXED)
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--collect-only", "-q")
    ids = [ln for ln in r.stdout.lines if "::" in ln]
    assert ids == [f"samples.jsonl::Add/0#{i}" for i in range(5)]


@pytest.mark.parametrize("mode", [["-n", "0"], ["-n", "2"], ["-n", "1"], ["-p", "no:xdist"]])
def test_results_and_metrics_files(pytester, mode):
    _problems(pytester)
    path = _samples(pytester, MIXED)
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-k", "1,2,10", *mode)
    assert r.ret == 1
    rows = result_rows(path)
    assert [(x["sample_index"], x["passed"], x["error_type"], x["compile_ok"]) for x in rows] == [
        (0, True, None, True), (1, False, "test_failure", True), (2, False, "compile_error", False),
        (3, False, "tampering", True), (4, True, None, True)]
    for x in rows:
        assert x["model"] == "m" and x["task_id"] == "Add/0"  # input fields are kept
        assert isinstance(x["duration_s"], float) and isinstance(x["result"], str)
        assert "stdout" in x and "stderr" in x
    assert rows[0]["result"] == "passed" and rows[1]["result"].startswith("failed:")
    m = json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())
    assert m["pass@1"] == pytest.approx(0.4)
    assert m["pass@2"] == pytest.approx(1 - (3 * 2) / (5 * 4))
    assert m["pass@10"] == "n/a (n < k)"
    assert m["compile_rate"] == pytest.approx(0.8)
    assert m["error_counts"] == {"compile_error": 1, "passed": 2, "tampering": 1, "test_failure": 1}
    for key in ("rustc", "rustc_flags", "sandbox", "plugin_version", "started", "ended", "wall_time_s",
                "samples_per_minute", "problems", "samples"):
        assert key in m
    out = r.stdout.str()
    assert "pass@1: 0.4000" in out and "compile_rate: 0.8000" in out
    assert "5 rows for 5 samples: complete" in out
    assert "compile_error=1" in out


def test_junit_properties_under_xdist(pytester):
    _problems(pytester)
    _samples(pytester, MIXED)
    run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "-n", "2", "--junitxml", "j.xml")
    root = ET.parse(pytester.path / "j.xml").getroot()
    suite = root.find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["heval_pass@1"] == "0.4000" and props["heval_compile_rate"] == "0.8000"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert len(cases) == 5
    for name, case in cases.items():
        p = {x.get("name"): x.get("value") for x in case.find("properties")}
        assert p["task_id"] == "Add/0" and "error_type" in p and p["compile_ok"] in ("true", "false")
    fail = cases["Add/0#2"].find("failure")
    assert fail.get("message").startswith("[compile_error]")
    assert cases["Add/0#0"].find("failure") is None


@pytest.mark.parametrize("threshold,expected", [("0.3", 0), ("0.5", 1)])
def test_fail_under_decides_the_exit_status(pytester, threshold, expected):
    _problems(pytester)
    _samples(pytester, MIXED)
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl",
            "--heval-fail-under", f"pass@1={threshold}", "--heval-fail-under", "compile_rate=0.5")
    assert r.ret == expected
    assert ("fail-under ok" if expected == 0 else "fail-under FAILED") in r.stdout.str()


def test_several_samples_files_each_get_their_own_results(pytester):
    _problems(pytester)
    a = _samples(pytester, MIXED[:2], "a.jsonl")
    b = _samples(pytester, MIXED[2:], "b.jsonl")
    r = run(pytester, "--heval", "a.jsonl", "b.jsonl", "--heval-problems", "problems.jsonl", "-n", "2")
    assert len(result_rows(a)) == 2 and len(result_rows(b)) == 3
    assert json.loads((pytester.path / "a.jsonl_metrics.json").read_text())["pass@1"] == 0.5
    assert json.loads((pytester.path / "b.jsonl_metrics.json").read_text())["pass@1"] == pytest.approx(1 / 3)
    out = r.stdout.str()
    assert "2 rows for 2 samples: complete" in out and "3 rows for 3 samples: complete" in out


def test_results_dir_option_and_gz_samples(pytester):
    import gzip
    _problems(pytester)
    with gzip.open(pytester.path / "s.jsonl.gz", "wt") as f:
        for row in MIXED[:2]:
            f.write(json.dumps(row) + "\n")
    r = run(pytester, "--heval", "s.jsonl.gz", "--heval-problems", "problems.jsonl", "--heval-results", "out")
    assert r.ret == 1
    assert len(read_jsonl(pytester.path / "out" / "s.jsonl.gz_results.jsonl")) == 2
    assert (pytester.path / "out" / "s.jsonl.gz_metrics.json").exists()


def test_rows_carrying_their_own_problem_and_main_style(pytester):
    rows = [
        {"task_id": "own/0", "completion": GOOD, "prompt": ADD_PROBLEM["prompt"], "test": ADD_PROBLEM["test"]},
        {"task_id": "AddMain_0", "completion": "    a + b\n"},
        {"task_id": "AddMain_0", "completion": "    a * b\n"},
        {"task_id": "AddMain_0", "completion": "    std::process::exit(0)\n"},
    ]
    path = _samples(pytester, rows)
    _problems(pytester, [ADD_MAIN_PROBLEM], "main.json")
    (pytester.path / "main.json").write_text(json.dumps([ADD_MAIN_PROBLEM]))
    run(pytester, "--heval", "samples.jsonl", "--heval-problems", "main.json")
    res = result_rows(path)
    assert [(x["passed"], x["error_type"]) for x in res] == [
        (True, None), (True, None), (False, "test_failure"), (False, "tampering")]


BAD_INPUTS = [
    ("samples.jsonl", b'{"task_id": "Add/0", "completion": "x"}\n{"task_id": \n', "samples.jsonl:2", "malformed JSON"),
    ("samples.jsonl", b'{"task_id": "Add/0"}\n', "samples.jsonl:1: field 'completion'", "missing"),
    ("samples.jsonl", b'{"completion": "x"}\n', "samples.jsonl:1: field 'task_id'", "missing"),
    ("samples.jsonl", b'{"task_id": "Nope/1", "completion": "x"}\n', "samples.jsonl:1: field 'task_id'", "Nope/1"),
    ("samples.jsonl", b"\n\n", "samples.jsonl", "empty"),
    ("problems.jsonl", b'{"foo": 1}\n', "problems.jsonl:1", "no known problem format"),
    ("problems.jsonl", b"", "problems.jsonl", "empty"),
]


@pytest.mark.parametrize("which,content,where,what", BAD_INPUTS)
def test_bad_input_is_a_clear_usage_error_before_compiling(pytester, which, content, where, what):
    _problems(pytester)
    _samples(pytester, [{"task_id": "Add/0", "completion": GOOD}])
    (pytester.path / which).write_bytes(content)
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "-n", "2")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert where in err and what in err, err
    assert "Traceback" not in err and "INTERNALERROR" not in err
    assert not (pytester.path / "samples.jsonl_results.jsonl").exists()


def test_missing_rustc_is_a_clear_error(pytester, monkeypatch):
    _problems(pytester)
    _samples(pytester, MIXED[:1])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # rustup's rustc lives elsewhere on these machines
    monkeypatch.setenv("RUSTC", "definitely-not-rustc")
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "rustc not found" in r.stderr.str()


@pytest.mark.parametrize("where", ["cli", "ini"])
def test_a_users_timeout_below_what_a_sample_needs_is_overridden_and_said(pytester, where):
    """A repo's ``timeout = 2`` must not turn a model's endless loop into an infra_error (left out of pass@k, so a
    gate would pass on it): heval items get compile + the run's wall-clock limit + 60 s, and the summary says so."""
    _problems(pytester)
    path = _samples(pytester, [{"task_id": "Add/0", "completion": "    loop {}\n}\n"},
                               {"task_id": "Add/0", "completion": GOOD}])
    args = ["--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-timeout", "3",
            "--heval-fail-under", "pass@1=0.5"]
    if where == "cli":
        args += ["--timeout", "2"]
    else:
        pytester.makeini("[pytest]\ntimeout = 2\n")
    r = run(pytester, *args)
    rows = result_rows(path)
    assert rows[0]["error_type"] == "timeout" and rows[1]["passed"] is True
    out = r.stdout.str()
    assert "pytest-timeout's timeout (2 s) is below what a sample may need" in out and "heval items use 101 s" in out  # 30 + (2 x 3 + 5) + 60
    assert r.ret == 0  # pass@1 = 0.5 over both samples, no infra error


def test_auto_workers_formula(monkeypatch):
    from pytest_heval.plugin import xdist as plugin

    class Cfg:
        def getoption(self, name, default=None):
            return True

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(26)))
    monkeypatch.setattr(plugin, "available_gib", lambda: 225.0)
    assert plugin.pytest_xdist_auto_num_workers(Cfg()) == 24
    monkeypatch.setattr(plugin, "available_gib", lambda: 30.0)
    assert plugin.pytest_xdist_auto_num_workers(Cfg()) == 7
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert plugin.pytest_xdist_auto_num_workers(Cfg()) == 1


def test_auto_workers_formula_wins_over_xdists_own(pytester, monkeypatch):
    """``-n auto`` under --heval starts the formula's number of workers, not xdist's (one per CPU)."""
    from pytest_heval.plugin.xdist import available_gib

    _problems(pytester)
    _samples(pytester, MIXED[:2])
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    want = max(1, min(cpus - 2, int(available_gib() // 4)))
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "-n", "auto")
    out = r.stdout.str()
    assert f"created: {want}/{want} worker" in out, out[-2000:]
    assert want != cpus, "on this machine the formula and xdist's own answer must differ for the test to mean something"


def test_sandbox_none_must_be_asked_for_and_bad_kind_is_refused(pytester):
    _problems(pytester)
    _samples(pytester, MIXED[:1])
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-sandbox", "nope")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-sandbox", "none")
    assert r.ret == 0
    assert json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())["sandbox"] == "none"


def test_verdict_cache_makes_a_rerun_reuse_every_verdict(pytester):
    _problems(pytester)
    path = _samples(pytester, MIXED)
    args = ("--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-cache", "cache", "-n", "2")
    run(pytester, *args)
    first = result_rows(path)
    assert not any(r.get("cached") for r in first)
    run(pytester, *args)
    second = result_rows(path)
    assert all(r.get("cached") or r.get("reused") for r in second)  # nothing built again
    assert sum(1 for r in second if r.get("cached")) == 4  # the 4 distinct programs
    assert [(r["passed"], r["error_type"]) for r in first] == [(r["passed"], r["error_type"]) for r in second]
    # another limit is another verdict: nothing is taken from the cache
    run(pytester, *args, "--heval-timeout", "7")
    assert not any(r.get("cached") for r in result_rows(path))


def test_duplicates_are_judged_once(pytester):
    _problems(pytester)
    path = _samples(pytester, MIXED * 3)
    run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "-n", "2")
    rows = result_rows(path)
    assert len(rows) == 15
    # 4 distinct programs (two of the five rows are identical): every later copy reuses a verdict
    assert sum(1 for r in rows if not r.get("reused")) == 4
    assert [(r["passed"], r["error_type"]) for r in rows[5:10]] == [(r["passed"], r["error_type"]) for r in rows[:5]]


@pytest.mark.parametrize("sandbox", ["firejail", "bwrap"])
def test_runs_from_a_virtualenv_in_tmp(pytester, sandbox):
    """Installed in a virtualenv under /tmp (or a hidden home directory), the sandboxed runner must still
    start: it runs on the base interpreter, and nothing of the venv has to be visible in the sandbox."""
    import subprocess
    import sys

    venv = pytester.path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    _problems(pytester)
    _samples(pytester, MIXED[:3])
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "--heval",
                        "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-sandbox", sandbox, "-n", "2"],
                       cwd=pytester.path, capture_output=True, text=True, timeout=600)
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [(r["passed"], r["error_type"]) for r in rows] == [(True, None), (False, "test_failure"),
                                                              (False, "compile_error")], p.stdout[-2000:]


def test_failures_section_only_on_request(pytester):
    """Per-sample failures go to the results file and the short summary; pytest's FAILURES section (one
    block per failed sample, built in quadratic time) only when --tb asks for it."""
    _problems(pytester)
    _samples(pytester, MIXED)
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl")
    out = r.stdout.str()
    assert "= FAILURES =" not in out
    assert "test_failure (1): Add/0#1" in out  # still named, grouped by error type
    assert "FAILED [test_failure] samples.jsonl::Add/0#1 - [test_failure] failed" in run(
        pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "-rA").stdout.str()
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--tb=short")
    out = r.stdout.str()
    assert "= FAILURES =" in out and "expected expression" in out  # the compile error, in its block
