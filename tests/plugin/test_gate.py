"""A gate a CI can trust and results that are never lost (issue 13): each test here failed on the code before it.

* ``--heval`` with no samples file is a usage error; a threshold outside [0, 1] too.
* The gate fails, with its reason, when the results are incomplete (``-k``, ``-x``) or an infra error remains.
* ``--co`` writes nothing; a partial run (``-k``, ``--lf``) keeps every finished row and computes the metrics from
  the whole file; a partial run over results of other settings is refused; a full one keeps them as ``.previous``.
* Path options in the space form do not silently move rootdir; inputs are never silently ignored; checkpoints with
  one file name get labels that tell them apart.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.helpers import ADD_PROBLEM, read_jsonl, result_rows, write_jsonl

GOOD = "    a + b\n}\n"
BAD = "    a - b\n}\n"


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *[str(a) for a in args])


def setup(pytester, completions, name="samples.jsonl"):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    return write_jsonl(pytester.path / name, [{"task_id": "Add/0", "completion": c} for c in completions])


def heval(pytester, *args, samples="samples.jsonl"):
    return run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl", "--heval-timeout", "3",
               "--heval-k", "1", *args)


def metrics(path) -> dict:
    return json.loads(open(str(path) + "_metrics.json").read())


def test_heval_without_a_samples_file_is_a_usage_error(pytester):
    setup(pytester, [GOOD])
    r = run(pytester, "--heval", "--heval-problems", "problems.jsonl", "--heval-fail-under", "pass@1=0.5")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "no samples file given" in r.stderr.str()


@pytest.mark.parametrize("threshold", ["1.5", "-0.1"])
def test_a_threshold_outside_0_1_is_a_usage_error(pytester, threshold):
    setup(pytester, [GOOD])
    r = heval(pytester, "--heval-fail-under", f"pass@1={threshold}")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "between 0 and 1" in r.stderr.str()


def test_the_gate_fails_on_a_subset_and_says_why(pytester):
    setup(pytester, [GOOD, GOOD, BAD, GOOD])
    r = heval(pytester, "--heval-fail-under", "pass@1=0.1", samples="samples.jsonl::Add/0#0")
    out = r.stdout.str()
    assert r.ret == pytest.ExitCode.TESTS_FAILED, out[-1500:]
    assert "fail-under FAILED: samples.jsonl: results complete (1 rows for 4 samples)" in out
    assert "gate: FAILED" in out
    r = heval(pytester, "-x", "--heval-fail-under", "pass@1=0.1", "-p", "no:randomly")
    assert r.ret == pytest.ExitCode.TESTS_FAILED


def test_the_gate_fails_on_an_infra_error(pytester):
    """A sample the harness failed to judge is an infra_error row (left out of pass@k): the gate must not pass."""
    setup(pytester, [GOOD, GOOD, GOOD])
    pytester.makeconftest(
        "import pytest\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_call(item):\n"
        "    if item.name.endswith('#1'):\n"
        "        raise RuntimeError('the harness broke')\n")
    r = heval(pytester, "-n", "2", "--heval-fail-under", "pass@1=0.5")
    out = r.stdout.str()
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [x["error_type"] for x in rows] == [None, "infra_error", None]
    assert metrics(pytester.path / "samples.jsonl")["pass@1"] == 1.0  # infra errors are not the model's
    assert "fail-under FAILED: samples.jsonl: no infra error (1)" in out and r.ret == pytest.ExitCode.TESTS_FAILED


def test_collect_only_writes_nothing_and_partial_runs_keep_every_finished_row(pytester):
    path = setup(pytester, [GOOD, BAD, GOOD, BAD])
    assert heval(pytester).ret == pytest.ExitCode.TESTS_FAILED
    full_rows, full = result_rows(path), metrics(path)
    assert full["pass@1"] == 0.5 and full["complete"] is True

    r = heval(pytester, "--co")
    assert r.ret == 0 and result_rows(path) == full_rows and metrics(path) == full  # untouched

    r = heval(pytester, samples="samples.jsonl::Add/0#1")  # one sample again: the rest stays, metrics from all
    rows, m = result_rows(path), metrics(path)
    assert [x["sample_index"] for x in rows] == [0, 1, 2, 3]
    assert [x["passed"] for x in rows] == [x["passed"] for x in full_rows]
    assert rows[0] == full_rows[0] and m["pass@1"] == 0.5 and m["complete"] is True and m["graded_this_run"] == 1
    assert "4 rows for 4 samples: complete" in r.stdout.str()


def test_last_failed_keeps_the_passing_rows(pytester):
    path = setup(pytester, [GOOD, BAD, GOOD])
    pytester.runpytest_subprocess("--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-k", "1")
    before = metrics(path)
    r = pytester.runpytest_subprocess("--heval", "samples.jsonl", "--heval-problems", "problems.jsonl",
                                      "--heval-k", "1", "--lf")
    after = metrics(path)
    assert "1 deselected" in r.stdout.str() or "2 deselected" in r.stdout.str()
    assert after["pass@1"] == before["pass@1"] == pytest.approx(2 / 3) and after["samples"] == 3


def test_results_of_other_settings(pytester):
    """A partial run over results graded otherwise is refused; a full run keeps them as .previous."""
    path = setup(pytester, [GOOD, BAD])
    heval(pytester)
    old = result_rows(path)
    r = run(pytester, "--heval", "samples.jsonl::Add/0#0", "--heval-problems", "problems.jsonl", "--heval-timeout", "4")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "limits.timeout_s: 3.0 then, 4.0 now" in r.stderr.str() and "grade the whole file" in r.stderr.str()
    assert result_rows(path) == old
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-timeout", "4")
    assert read_jsonl(str(path) + "_results.jsonl.previous") == old
    assert metrics(path)["limits"]["timeout_s"] == 4.0
    assert "kept as samples.jsonl_results.jsonl.previous" in r.stdout.str()


def test_changed_samples_are_not_mixed_with_old_rows(pytester):
    path = setup(pytester, [GOOD, BAD])
    heval(pytester)
    setup(pytester, [BAD, BAD])  # the file now holds other completions
    r = heval(pytester, samples="samples.jsonl::Add/0#1")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "other samples (line 1" in r.stderr.str()
    heval(pytester)
    assert [x["passed"] for x in result_rows(path)] == [False, False]


def test_a_path_option_in_the_space_form_does_not_move_rootdir(pytester, tmp_path_factory):
    setup(pytester, [GOOD])
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.move(str(pytester.path / "problems.jsonl"), elsewhere / "problems.jsonl")  # no ini file anywhere here
    r = run(pytester, "--heval", "samples.jsonl", "--heval-problems", elsewhere / "problems.jsonl")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--heval-problems=" in r.stderr.str()
    r = run(pytester, "--heval", "samples.jsonl", f"--heval-problems={elsewhere / 'problems.jsonl'}", "-v")
    assert r.ret == 0 and "samples.jsonl::Add/0#0 PASSED" in r.stdout.str()
    assert f"rootdir: {pytester.path}" in r.stdout.str()


def test_inputs_are_never_silently_ignored(pytester):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    rows = [{"task_id": "Add/0", "completion": c} for c in (GOOD, BAD)]
    (pytester.path / "chunks").mkdir()
    write_jsonl(pytester.path / "chunks" / "a.jsonl", rows)
    write_jsonl(pytester.path / "chunks" / "b.jsonl", rows[:1])
    write_jsonl(pytester.path / "xaa", rows)  # a `split` chunk
    write_jsonl(pytester.path / "s.json", rows)
    # a directory of samples files
    r = run(pytester, "--heval", "chunks", "--heval-problems", "problems.jsonl")
    assert len(result_rows(pytester.path / "chunks" / "a.jsonl")) == 2
    assert len(result_rows(pytester.path / "chunks" / "b.jsonl")) == 1
    # any name with --heval-samples
    r = run(pytester, "--heval", "--heval-samples", "xaa", "--heval-problems", "problems.jsonl")
    assert [x["passed"] for x in result_rows(pytester.path / "xaa")] == [True, False], r.stdout.str()[-1000:]
    # a JSON file by another name: say what to do
    r = run(pytester, "--heval", "s.json", "--heval-problems", "problems.jsonl")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--heval-samples s.json" in r.stderr.str()
    # a samples file without --heval
    r = run(pytester, "chunks/a.jsonl")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "add --heval" in r.stderr.str()


def test_checkpoints_with_one_file_name_get_labels_that_tell_them_apart(pytester):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    for d, c in (("ckpt1", GOOD), ("ckpt2", BAD)):
        (pytester.path / d).mkdir()
        write_jsonl(pytester.path / d / "samples.jsonl", [{"task_id": "Add/0", "completion": c}])
    r = run(pytester, "--heval", "ckpt1/samples.jsonl", "ckpt2/samples.jsonl", "--heval-problems", "problems.jsonl",
            "--heval-k", "1", "--junitxml=out.xml", "--heval-fail-under", "pass@1=0.5")
    out = r.stdout.str()
    assert "fail-under ok: ckpt1/samples.jsonl: pass@1" in out and "fail-under FAILED: ckpt2/samples.jsonl" in out
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="heval_pass@1[ckpt1/samples.jsonl]" value="1.0000"' in xml
    assert 'name="heval_pass@1[ckpt2/samples.jsonl]" value="0.0000"' in xml
    r = run(pytester, "--heval", "ckpt1/samples.jsonl", "ckpt2/samples.jsonl", "--heval-problems", "problems.jsonl",
            "--heval-k", "1", "--heval-label", "step-1000", "--heval-label", "step-2000", "--junitxml=out.xml")
    assert 'name="heval_pass@1[step-2000]" value="0.0000"' in (pytester.path / "out.xml").read_text()
    assert metrics(pytester.path / "ckpt1" / "samples.jsonl")["label"] == "step-1000"


def test_every_row_has_every_documented_key(pytester):
    path = setup(pytester, [GOOD, "  a +\n}\n", "    loop {}\n}\n"])
    heval(pytester)
    rows = result_rows(path)
    keys = [set(r) for r in rows]
    assert keys[0] == keys[1] == keys[2], keys
    for k in ("sample_index", "passed", "result", "error_type", "compile_ok", "duration_s", "stdout", "stderr",
              "stdout_truncated", "stderr_truncated", "compile_s", "run_s", "cpu_s", "limit", "exit_code", "signal", "reused", "cached"):
        assert k in keys[0], k
    assert rows[2]["limit"] == "cpu" and rows[0]["limit"] is None and rows[0]["cpu_s"] < 1
    assert rows[1]["error_type"] == "compile_error" and rows[1]["exit_code"] is None


def test_three_thousand_samples_end_with_the_summary(pytester):
    """At scale: failed samples grouped and capped, progress on lines of its own, the heval summary last."""
    rows = [{"task_id": "Add/0", "completion": [GOOD, BAD, "  a +\n}\n"][i % 3]} for i in range(3000)]
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(pytester.path / "samples.jsonl", rows)
    r = heval(pytester, "-n", "2")
    lines = r.stdout.str().splitlines()
    assert sum(x.startswith("FAILED") for x in lines) == 0
    assert any(x.startswith("test_failure (1000): Add/0#") and "(+995 more)" in x for x in lines)
    summary = next(i for i, x in enumerate(lines) if "pytest-heval summary" in x)
    assert len(lines) - summary < 15, lines[summary:]  # the summary and the final count line close the output
    assert "3000 rows for 3000 samples: complete" in "\n".join(lines[summary:])
    assert not any(x.startswith("..") for x in lines)  # no dot rows for samples
