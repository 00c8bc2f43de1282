"""Unit tests for results.py (output naming, streamed rows, input-order rewrite, metrics file) and report.py."""

from __future__ import annotations

import json
import os

from pytest_heval.report.junit import junit_suite_properties
from pytest_heval.report.terminal import failure_text, fmt_metric, summary_lines
from pytest_heval.results import RESULT_FIELDS, ResultsWriter, output_paths, result_row, write_metrics

from tests.helpers import read_jsonl


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
    out = result_row({"task_id": "A"}, 0, {"passed": False})
    assert out["error_type"] is None and out["compile_ok"] is None and out["duration_s"] is None
    assert out["stdout"] == "" and out["stderr"] == ""


# ---------------------------------------------------------------- ResultsWriter


def _r(i, **kw):
    return {"task_id": f"T/{i}", "sample_index": i, "passed": i % 2 == 0, **kw}


def test_writer_streams_and_flushes_each_row(tmp_path):
    path = tmp_path / "s.jsonl_results.jsonl"
    w = ResultsWriter(str(path))
    assert path.exists() and path.read_bytes() == b""
    w.write(_r(2))
    assert lines_of(path) == [_r(2)]  # on disk before finish()
    w.write(_r(0))
    w.write(_r(1, stdout="é\n\"x\""))
    assert lines_of(path) == [_r(2), _r(0), _r(1, stdout="é\n\"x\"")]
    assert path.read_bytes().count(b"\n") == 3
    assert w.error is None
    w.finish()


def test_writer_finish_rewrites_in_input_order(tmp_path):
    path = tmp_path / "s.jsonl_results.jsonl"
    w = ResultsWriter(str(path))
    order = [3, 0, 4, 1, 2]
    for i in order:
        w.write(_r(i))
    assert [r["sample_index"] for r in lines_of(path)] == order
    rows = w.finish()
    assert [r["sample_index"] for r in rows] == [0, 1, 2, 3, 4]
    assert lines_of(path) == [_r(i) for i in range(5)]
    assert read_jsonl(path) == rows
    assert not os.path.exists(str(path) + ".tmp")
    assert w.error is None


def test_writer_last_write_of_an_index_wins(tmp_path):
    path = tmp_path / "r.jsonl"
    w = ResultsWriter(str(path))
    w.write(_r(0, result="first"))
    w.write(_r(0, result="second"))
    assert len(lines_of(path)) == 2
    rows = w.finish()
    assert rows == [_r(0, result="second")] and lines_of(path) == rows


def test_writer_finish_with_no_rows(tmp_path):
    path = tmp_path / "r.jsonl"
    w = ResultsWriter(str(path))
    assert w.finish() == []
    assert path.read_bytes() == b""


def test_writer_creates_results_dir(tmp_path):
    res, _ = output_paths(str(tmp_path / "in" / "s.jsonl"), str(tmp_path / "out" / "deep"))
    w = ResultsWriter(res)
    w.write(_r(0))
    assert lines_of(res) == [_r(0)]
    w.finish()
    assert res == str(tmp_path / "out" / "deep" / "s.jsonl_results.jsonl")


def test_writer_truncates_an_old_file(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"old": 1}\n' * 3)
    w = ResultsWriter(str(path))
    w.write(_r(1))
    assert lines_of(path) == [_r(1)]
    w.finish()


def test_writer_write_error_is_reported_not_raised(tmp_path):
    path = tmp_path / "r.jsonl"
    w = ResultsWriter(str(path))
    w.write(_r(1))

    class Full:
        def write(self, b):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

        def close(self):
            pass

    w._f.close()
    w._f = Full()
    w.write(_r(0))  # must not raise
    assert w.error is not None and "No space left on device" in w.error and str(path) in w.error
    w.write(_r(2))
    rows = w.finish()
    assert [r["sample_index"] for r in rows] == [0, 1, 2]
    assert lines_of(path) == [_r(1)]  # the streamed rows are kept, not rewritten over


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


def test_summary_lines_complete():
    lines = summary_lines("s.jsonl", METRICS, "s.jsonl_results.jsonl", 4)
    assert lines[0] == "samples file: s.jsonl"
    assert lines[1] == "  pass@1: 0.2500   pass@10: n/a (n < k)   compile_rate: 0.7500"
    assert "problems: 2" in lines[2] and "samples: 4" in lines[2] and "passed: 1" in lines[2]
    assert lines[3] == "  outcomes: compile_error=1, passed=1, test_failure=2"
    assert not any("WARNING" in x for x in lines)
    assert lines[-1] == "  results: s.jsonl_results.jsonl   (4 rows for 4 samples: complete)"


def test_summary_lines_incomplete_and_infra_warning():
    m = dict(METRICS, infra_errors=2, compile_rate=None)
    lines = summary_lines("s.jsonl", m, "r.jsonl", 7)
    assert "compile_rate: n/a" in lines[1]
    assert any(x.startswith("  WARNING: 2 infra_error sample(s)") and "excluded" in x for x in lines)
    assert lines[-1].endswith("(4 rows for 7 samples: INCOMPLETE)")


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
