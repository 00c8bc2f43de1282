"""Unit tests for results.py (output naming, streamed rows, input-order rewrite, metrics file) and report.py."""

from __future__ import annotations

import json
import os

from pytest_heval.report.junit import junit_suite_properties
from pytest_heval.report.terminal import failure_text, fmt_metric, summary_lines
from pytest_heval import results
from pytest_heval.results import RESULT_FIELDS, ResultsFile, output_paths, result_row, stale_reason, write_metrics



def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f.read().splitlines()]


# ---------------------------------------------------------------- output_paths


def test_output_paths_next_to_samples():
    assert output_paths("/d/x.jsonl", None) == ("/d/x.jsonl_results.jsonl", "/d/x.jsonl_metrics.json")
    assert output_paths("x.jsonl.gz", None) == ("x.jsonl.gz_results.jsonl", "x.jsonl.gz_metrics.json")


def test_output_paths_with_results_dir():
    assert output_paths("/d/sub/x.jsonl", "/out") == ("/out/x.jsonl_results.jsonl", "/out/x.jsonl_metrics.json")
    assert output_paths("/d/x.jsonl", "rel/dir") == (os.path.join("rel/dir", "x.jsonl_results.jsonl"),
                                                     os.path.join("rel/dir", "x.jsonl_metrics.json"))


# ---------------------------------------------------------------- result_row


def test_result_row_fields():
    inp = {"task_id": "A/0", "completion": "x", "model": "m", "passed": "stale", "result": "stale"}
    v = {"passed": True, "result": "passed", "error_type": None, "compile_ok": True, "duration_s": 1.5,
         "stdout": "o", "exit_code": 0, "run_s": 0.1}
    out = result_row(inp, 3, v)
    assert out["task_id"] == "A/0" and out["completion"] == "x" and out["model"] == "m"
    assert out["sample_index"] == 3
    assert out["passed"] is True and out["result"] == "passed"
    assert out["stdout"] == "o" and out["stderr"] == ""
    assert out["exit_code"] == 0 and out["run_s"] == 0.1
    assert list(out)[:3] == ["task_id", "completion", "model"]
    for f in RESULT_FIELDS:
        assert f in out
    assert inp["passed"] == "stale"  # the input row is not modified


def test_result_row_missing_verdict_fields():
    """Every documented field is in every row (a compile error has no exit_code, run_s...: null)."""
    out = result_row({"task_id": "A"}, 0, {"passed": False})
    assert out["error_type"] is None and out["compile_ok"] is None and out["duration_s"] is None
    assert out["stdout"] == "" and out["stderr"] == ""
    assert {k: out[k] for k in ("exit_code", "run_s", "signal", "compile_s")} == dict.fromkeys(
        ("exit_code", "run_s", "signal", "compile_s"))
    assert out["reused"] is False and out["cached"] is False and out["stdout_truncated"] is False


# ---------------------------------------------------------------- ResultsFile


def _r(i, **kw):
    return {"task_id": f"T/{i}", "sample_index": i, "passed": i % 2 == 0, **kw}


def _open(path):
    rf = ResultsFile(str(path))
    rf.open()
    return rf


def test_rows_reach_the_disk_within_the_flush_interval_and_whole(tmp_path, monkeypatch):
    """Rows are written out in groups: at the latest FLUSH_EVERY_S after they were given, or after FLUSH_ROWS
    rows, each group as whole lines (a killed run loses at most that interval; resume grades those again)."""
    path = tmp_path / "s.jsonl_results.jsonl"
    clock = [1000.0]
    monkeypatch.setattr(results.time, "monotonic", lambda: clock[0])
    rf = _open(path)
    assert path.exists() and path.read_bytes() == b""
    rf.write(_r(2))
    assert lines_of(path) == []  # not yet: within the interval
    clock[0] += results.FLUSH_EVERY_S
    rf.write(_r(0))
    assert lines_of(path) == [_r(2), _r(0)]  # the interval passed: both on disk
    rf.write(_r(1, stdout="é\n\"x\""))
    rf.flush()
    assert lines_of(path) == [_r(2), _r(0), _r(1, stdout="é\n\"x\"")]
    for i in range(3, 3 + results.FLUSH_ROWS):
        rf.write(_r(i))
    assert len(lines_of(path)) == 3 + results.FLUSH_ROWS  # FLUSH_ROWS rows pending: written without waiting
    assert rf.error is None and rf.written == 3 + results.FLUSH_ROWS
    rf.finish()


def test_finish_rewrites_in_input_order_and_the_last_row_of_a_sample_wins(tmp_path):
    path = tmp_path / "s.jsonl_results.jsonl"
    rf = _open(path)
    for i in [3, 0, 4, 1, 2]:
        rf.write(_r(i))
    rf.write(_r(0, result="again"))
    rf.finish()
    assert lines_of(path) == [_r(0, result="again")] + [_r(i) for i in range(1, 5)]
    assert rf.rewritten == {0}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_rows_of_an_earlier_run_are_kept_and_a_torn_last_line_cut(tmp_path):
    """A run killed mid-row left ``{"task_id"...`` without a newline: the next run keeps the whole rows, cuts the
    torn one, appends after them; finish() merges old and new rows."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(_r(0)).encode() + b"\n" + json.dumps(_r(1)).encode() + b"\n" + b'{"task_id": "T/2", "sam')
    rf = _open(path)
    assert lines_of(path) == [_r(0), _r(1)]
    rf.write(_r(2))
    rf.write(_r(1, result="new"))
    rf.finish()
    assert lines_of(path) == [_r(0), _r(1, result="new"), _r(2)]


def test_a_torn_line_longer_than_the_read_chunk_is_cut_whole(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(_r(0)).encode() + b"\n" + b'{"x": "' + b"y" * 200_000)
    _open(path).finish()
    assert lines_of(path) == [_r(0)]


def test_results_dir_is_created(tmp_path):
    res, _ = output_paths(str(tmp_path / "in" / "s.jsonl"), str(tmp_path / "out" / "deep"))
    rf = _open(res)
    rf.write(_r(0))
    rf.finish()
    assert lines_of(res) == [_r(0)] and res == str(tmp_path / "out" / "deep" / "s.jsonl_results.jsonl")


def test_a_write_error_is_reported_not_raised_and_whole_rows_stay(tmp_path):
    path = tmp_path / "r.jsonl"
    rf = _open(path)
    rf.write(_r(1))

    class Full:
        def write(self, b):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

        def close(self):
            pass

        def fileno(self):
            return os.open(os.devnull, os.O_WRONLY)

    rf.flush()
    rf._f.close()
    rf._f = Full()
    rf.write(_r(0))
    rf.flush()  # must not raise
    assert rf.error is not None and "No space left on device" in rf.error and str(path) in rf.error
    rf.write(_r(2))
    rf.finish()
    assert lines_of(path) == [_r(1)]  # the streamed rows are kept, not rewritten over


class S:
    def __init__(self, task_id, completion):
        self.task_id, self.completion = task_id, completion


GRADING = {"rustc": "rustc 1.95.0", "sandbox": "bwrap", "limits": {"timeout_s": 10.0, "memory_mib": 4096}}


def test_stale_reason(tmp_path):
    res, met = str(tmp_path / "r.jsonl"), str(tmp_path / "m.json")
    samples = [S("A/0", "x"), S("A/1", "y")]
    assert stale_reason(res, met, samples, GRADING) is None  # no results file
    with open(res, "w") as f:
        f.write(json.dumps({"task_id": "A/1", "completion": "y", "sample_index": 1}) + "\n")
    assert "grading is unknown" in stale_reason(res, met, samples, GRADING)
    write_metrics(met, dict(GRADING, status="complete"))
    assert stale_reason(res, met, samples, GRADING) is None  # rows of these samples, graded the same way
    other = dict(GRADING, limits={"timeout_s": 3.0, "memory_mib": 4096})
    assert stale_reason(res, met, samples, other) == \
        "a run graded with other settings (limits.timeout_s: 10.0 then, 3.0 now)"
    assert "other samples (line 1" in stale_reason(res, met, [S("A/0", "x"), S("A/1", "z")], GRADING)
    assert "other samples" in stale_reason(res, met, [S("A/0", "x")], GRADING)  # index out of range


# ---------------------------------------------------------------- write_metrics


def test_write_metrics(tmp_path):
    p = tmp_path / "m.json"
    m = {"pass@1": 0.5, "pass@10": "n/a (n < k)", "compile_rate": None}
    assert write_metrics(str(p), m) is None
    assert json.loads(p.read_text()) == m
    assert p.read_text().endswith("\n") and "\n  " in p.read_text()
    assert not os.path.exists(str(p) + ".tmp")


def test_write_metrics_error(tmp_path):
    p = tmp_path / "missing-dir" / "m.json"
    err = write_metrics(str(p), {})
    assert err is not None and err.startswith(f"cannot write {p}:")


# ---------------------------------------------------------------- report.py


METRICS = {"pass@1": 0.25, "pass@10": "n/a (n < k)", "compile_rate": 0.75, "samples": 4, "judged": 4, "passed": 1,
           "compiled": 3, "infra_errors": 0, "problems": 2, "samples_per_problem": {"min": 2, "max": 2},
           "error_counts": {"compile_error": 1, "passed": 1, "test_failure": 2}}


def test_fmt_metric():
    assert fmt_metric(0.123456) == "0.1235"
    assert fmt_metric(1.0) == "1.0000"
    assert fmt_metric(None) == "n/a"
    assert fmt_metric("n/a (n < k)") == "n/a (n < k)"
    assert fmt_metric(3) == "3"


SUMMARY = dict(METRICS, label="s.jsonl", samples_file="/d/s.jsonl", results_file="s.jsonl_results.jsonl",
               expected_samples=4, missing=0, graded_this_run=4, graded_twice=0, complete=True)


def test_summary_lines_complete():
    lines = summary_lines(SUMMARY)
    assert lines[0] == "s.jsonl: /d/s.jsonl"
    assert lines[1] == "  pass@1: 0.2500   pass@10: n/a (n < k)   compile_rate: 0.7500"
    assert "problems: 2" in lines[2] and "samples: 4" in lines[2] and "passed: 1" in lines[2]
    assert lines[3] == "  outcomes: compile_error=1, passed=1, test_failure=2"
    assert not any("WARNING" in x for x in lines)
    assert lines[-1] == ("  results: s.jsonl_results.jsonl   (4 rows for 4 samples: complete; 0 missing, 4 graded by "
                         "this run, 0 graded twice)")


def test_summary_lines_incomplete_and_infra_warning():
    m = dict(SUMMARY, infra_errors=2, compile_rate=None, expected_samples=7, missing=3, complete=False)
    lines = summary_lines(m)
    assert "compile_rate: n/a" in lines[1]
    assert any(x.startswith("  WARNING: 2 infra_error sample(s)") and "excluded" in x for x in lines)
    assert "(4 rows for 7 samples: INCOMPLETE; 3 missing" in lines[-1]


def test_junit_suite_properties():
    assert junit_suite_properties(METRICS) == {"heval_pass@1": "0.2500", "heval_pass@10": "n/a (n < k)",
                                               "heval_compile_rate": "0.7500"}
    assert junit_suite_properties({"compile_rate": None}) == {"heval_compile_rate": "n/a"}


def test_failure_text():
    v = {"error_type": "test_failure", "result": "failed: boom", "stdout": "out\n", "stderr": "err\n"}
    t = failure_text(v)
    assert t.startswith("[test_failure] failed: boom")
    assert "--- stderr (tail) ---\nerr" in t and "--- stdout (tail) ---\nout" in t
    assert t.index("stderr (tail)") < t.index("stdout (tail)")


def test_failure_text_compile_error_has_no_stdout_and_tails_are_bounded():
    v = {"error_type": "compile_error", "result": "failed: error[E0425]", "stdout": "S" * 10,
         "stderr": "x" * 5000 + "END"}
    t = failure_text(v)
    assert "stdout (tail)" not in t
    assert t.endswith("END") and t.count("x") == 1997
    assert failure_text({"error_type": None, "result": "passed"}) == "[None] passed"
    long_out = failure_text({"error_type": "timeout", "result": "timed out", "stdout": "y" * 3000 + "Z"})
    assert long_out.endswith("Z") and long_out.count("y") == 1499 and "stderr (tail)" not in long_out
