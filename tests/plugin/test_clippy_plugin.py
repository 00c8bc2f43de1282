"""`pytest --heval --heval-clippy`, for real (rustc, clippy-driver, the sandbox) through pytester subprocesses: the
option and its ini key, the row fields human-eval-rust writes, the metrics, the summary, the gate."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import ADD_PROBLEM, result_rows, write_jsonl

GOOD = "    a + b\n}\n"
NEEDLESS_RETURN = "    return a + b;\n}\n"
BROKEN = "    a + \n}\n"
WITH_MAIN = "    a + b\n}\n\nfn main() {\n    println!(\"{}\", add(1, 2));\n}\n"
WRONG = "    a - b\n}\n"
SAMPLES = [{"task_id": "Add/0", "completion": c} for c in (GOOD, NEEDLESS_RETURN, BROKEN, WITH_MAIN, WRONG)]


def run(pytester, *args):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(pytester.path / "samples.jsonl", SAMPLES)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", "samples.jsonl",
                                         "--heval-problems", "problems.jsonl", *[str(a) for a in args])


def metrics(pytester):
    return json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())


@pytest.mark.parametrize("mode", [["-n", "2"], ["-p", "no:xdist"]])
def test_clippy_rows_metrics_and_summary(pytester, mode):
    r = run(pytester, "--heval-clippy", "--junitxml=report.xml", *mode)
    assert r.ret == 1  # a compile error and a wrong answer
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [x["passed"] for x in rows] == [True, True, False, True, False]
    assert [x["clippy_ok"] for x in rows] == [True, False, None, True, True]
    assert [x["clippy_lints"] for x in rows] == [[], ["clippy::needless_return"], None, [], []]
    assert [x["main_free"] for x in rows] == [True, True, True, False, True]
    assert [x["test_ok"] for x in rows] == [True, True, None, True, False]
    for x in rows:
        assert isinstance(x["compile_time_ms"], int) and x["compile_time_ms"] >= 0
        assert "binary_size_bytes" in x
    m = metrics(pytester)
    assert m["clippy_pass_rate"] == pytest.approx(3 / 4) and m["clippy_checked"] == 4
    assert m["clippy_lint_counts"] == {"clippy::needless_return": 1}
    assert m["main_free_rate"] == pytest.approx(4 / 5)
    assert m["avg_compile_time_ms"] > 0
    assert m["clippy_args"] == ["-D", "warnings"]
    out = r.stdout.str()
    assert "clippy_pass_rate: 0.7500 (of 4 compiled)   top lints: clippy::needless_return=1" in out
    assert "main_free_rate: 0.8000   avg_compile_time_ms: " in out
    props = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "report.xml").getroot().iter("property")}
    assert props["heval_clippy_pass_rate"] == "0.7500"


def test_without_clippy_the_fields_are_null(pytester):
    r = run(pytester, "-n", "2", "--heval-batch", "1")
    assert r.ret == 1
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [x["clippy_ok"] for x in rows] == [None] * 5 and [x["clippy_lints"] for x in rows] == [None] * 5
    assert [x["main_free"] for x in rows] == [True, True, True, False, True]
    # each program built alone (--heval-batch 1): each compiled one has a binary of its own, and its size
    assert [x["binary_size_bytes"] is not None for x in rows] == [True, True, False, True, True]
    m = metrics(pytester)
    assert m["clippy_pass_rate"] is None and m["clippy_args"] is None
    assert m["binary_size_samples"] == 4 and m["avg_binary_size_bytes"] > 1000
    assert "clippy_pass_rate" not in r.stdout.str()


@pytest.mark.parametrize("threshold,expected", [("0.75", 0), ("0.8", 1)])
def test_fail_under_clippy_pass_rate(pytester, threshold, expected):
    r = run(pytester, "--heval-clippy", "-n", "2", "--heval-fail-under", f"clippy_pass_rate={threshold}")
    assert r.ret == expected
    verdict = "ok" if expected == 0 else "FAILED"
    assert f"fail-under {verdict}: samples.jsonl: clippy_pass_rate = 0.7500" in r.stdout.str()


def test_ini_key_and_clippy_args(pytester):
    """heval_clippy in the ini file turns it on; --heval-clippy-args sets the levels (warnings: listed, not failed)."""
    pytester.makeini("[pytest]\nheval_clippy = true\n")
    r = run(pytester, "-n", "2", "--heval-clippy-args=-W warnings")
    assert r.ret == 1
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [x["clippy_ok"] for x in rows] == [True, True, None, True, True]
    assert rows[1]["clippy_lints"] == ["clippy::needless_return"]
    assert metrics(pytester)["clippy_args"] == ["-W", "warnings"]


def test_gating_on_clippy_without_clippy_is_a_usage_error(pytester):
    r = run(pytester, "--heval-fail-under", "clippy_pass_rate=0.8")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs --heval-clippy" in r.stderr.str()
    assert not (pytester.path / "samples.jsonl_results.jsonl").exists()


def test_missing_clippy_driver_is_a_usage_error(pytester, tmp_path):
    """A toolchain without clippy-driver next to its rustc (a sysroot without the clippy component)."""
    real = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True).stdout.strip()
    fake = tmp_path / "sysroot"
    (fake / "bin").mkdir(parents=True)
    os.symlink(os.path.join(real, "lib"), fake / "lib")
    rustc = fake / "bin" / "rustc"
    rustc.write_text(f'#!/bin/sh\nif [ "$1 $2" = "--print sysroot" ]; then echo {fake}; exit 0; fi\n'
                     f'exec {real}/bin/rustc "$@"\n')
    rustc.chmod(0o755)
    os.environ["RUSTC"] = str(rustc)
    try:
        r = run(pytester, "--heval-clippy")
    finally:
        del os.environ["RUSTC"]
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert f"--heval-clippy: no clippy-driver next to rustc ({fake}/bin/clippy-driver is missing)" in err
    assert "rustup component add clippy" in err
    assert not (pytester.path / "samples.jsonl_results.jsonl").exists()
