"""`pytest --heval` with --heval-compare-to, --heval-fail-if-regressed, --heval-alpha, --heval-per-problem,
--heval-html and several samples files: graded for real (rustc + sandbox) in pytester subprocesses; the old run is
a hand-written results file."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ADD_PROBLEM, read_jsonl, write_jsonl

GOOD = "    a + b\n}\n"
WRONG = "    a - b\n}\n"
TASKS = [f"Add/{i}" for i in range(8)]


@pytest.fixture
def setup(pytester):
    write_jsonl(pytester.path / "problems.jsonl", [{**ADD_PROBLEM, "task_id": t} for t in TASKS])
    write_jsonl(pytester.path / "old.jsonl_results.jsonl",
                [{"task_id": t, "completion": GOOD, "sample_index": i, "passed": True, "result": "passed",
                  "error_type": None, "compile_ok": True} for i, t in enumerate(TASKS)])
    return pytester


def samples(pytester, name, wrong):
    """One sample per problem; the first ``wrong`` of them fail their test."""
    (pytester.path / name).parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(pytester.path / name, [{"task_id": t, "completion": WRONG if i < wrong else GOOD}
                                              for i, t in enumerate(TASKS)])


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", "--heval-problems", "problems.jsonl",
                                         *[str(a) for a in args])


def test_significant_regression_fails_the_gate_with_everything_reported(setup):
    samples(setup, "new.jsonl", wrong=8)
    r = run(setup, "new.jsonl", "--heval-compare-to", "old.jsonl_results.jsonl", "--heval-fail-if-regressed",
            "--heval-per-problem", "--heval-html", "report.html", "-n", "2")  # under xdist: the controller decides
    out = r.stdout.str()
    assert r.ret == 1, out
    assert "paired comparison: new.jsonl vs old.jsonl on 8 shared problem(s)" in out
    assert "worse: 8   better: 0   unchanged: 0   exact sign test p = 0.007812" in out
    assert "REGRESSED at alpha = 0.05" in out
    assert out.index("regression gate FAILED: new.jsonl vs old.jsonl") > out.index("paired comparison")
    assert "per problem (passed/judged):" in out
    assert ["Add/7", "0/1"] in [line.split() for line in out.splitlines()]  # the per-problem table
    m = json.loads((setup.path / "new.jsonl_metrics.json").read_text())
    c = m["comparison"]
    assert c["regressed"] is True and c["sign_test_p"] == pytest.approx(2 / 256) and len(c["worse"]) == 8
    assert c["delta_pass@1"] == -1.0 and c["ci"]["low"] == c["ci"]["high"] == -1.0
    assert c["old_results_file"] == str(setup.path / "old.jsonl_results.jsonl")
    assert m["per_problem"]["Add/3"] == {"passed": 0, "judged": 1} and len(m["per_problem"]) == 8
    page = (setup.path / "report.html").read_text()
    assert 'id="ci-chart"' in page and "REGRESSED" in page and 'id="heatmap"' in page
    assert "HTML report: report.html" in out


def test_the_gate_decides_the_exit_status_and_ignores_noise(setup):
    samples(setup, "new.jsonl", wrong=3)  # 3 of 8 lost: p = 0.25, not significant
    r = run(setup, "new.jsonl", "--heval-compare-to", "old.jsonl_results.jsonl", "--heval-fail-if-regressed")
    out = r.stdout.str()
    assert r.ret == 0, out  # though 3 samples failed: like --heval-fail-under, the gate decides
    assert "exact sign test p = 0.25" in out and "regression gate ok" in out
    # a looser alpha turns the same run into a regression
    r = run(setup, "new.jsonl", "--heval-compare-to", "old.jsonl_results.jsonl", "--heval-fail-if-regressed",
            "--heval-alpha", "0.3")
    assert r.ret == 1 and "regression gate FAILED" in r.stdout.str()
    # without the gate the comparison is only reported: failed samples fail the run as usual
    r = run(setup, "new.jsonl", "--heval-compare-to", "old.jsonl_results.jsonl")
    assert r.ret == 1 and "regression gate" not in r.stdout.str() and "no significant regression" in r.stdout.str()


def test_comparing_with_the_results_file_being_rewritten(setup):
    samples(setup, "new.jsonl", wrong=2)
    assert run(setup, "new.jsonl").ret == 1
    before = read_jsonl(setup.path / "new.jsonl_results.jsonl")
    r = run(setup, "new.jsonl", "--heval-compare-to", "new.jsonl_results.jsonl", "--heval-fail-if-regressed")
    out = r.stdout.str()
    assert r.ret == 0, out  # the old rows were read before the new run rewrote the file: identical runs
    assert "paired comparison: new.jsonl vs new.jsonl (old) on 8 shared problem(s)" in out
    assert "change +0.0000" in out and "worse: 0   better: 0   unchanged: 8" in out
    assert [x["passed"] for x in read_jsonl(setup.path / "new.jsonl_results.jsonl")] == [x["passed"] for x in before]


def test_several_samples_files_get_one_side_by_side_table(setup):
    samples(setup, "ckpt1/samples.jsonl", wrong=0)
    samples(setup, "ckpt2/samples.jsonl", wrong=4)
    r = run(setup, "ckpt1/samples.jsonl", "ckpt2/samples.jsonl", "--heval-k", "1")
    out = r.stdout.str()
    assert "side by side:" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ckpt")}
    assert rows["ckpt1/samples.jsonl"][1:4] == ["1.0000", "1.0000", "8"]
    assert rows["ckpt2/samples.jsonl"][1:4] == ["0.5000", "1.0000", "8"]


def test_usage_errors(setup):
    samples(setup, "new.jsonl", wrong=0)
    r = run(setup, "new.jsonl", "--heval-fail-if-regressed")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--heval-fail-if-regressed needs --heval-compare-to" in r.stderr.str()
    (setup.path / "bad_results.jsonl").write_text('{"task_id": "Add/0", "passed": true}\n{"task_id": "Add/1"}\n')
    r = run(setup, "new.jsonl", "--heval-compare-to", "bad_results.jsonl")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "bad_results.jsonl:2: field 'passed'" in r.stderr.str()
    r = run(setup, "new.jsonl", "--heval-compare-to", "old.jsonl_results.jsonl", "--heval-alpha", "1.5")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--heval-alpha: must be between 0 and 1" in r.stderr.str()
    r = run(setup, "new.jsonl", "--heval-html", "no/such/dir/r.html")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--heval-html" in r.stderr.str()
