"""`python -m pytest_heval report RESULTS...` on hand-written results files (no rustc), and the labels of runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_heval.report.checkpoints import labels
from tests.helpers import REPO, write_jsonl

DATA = Path(__file__).parent.parent / "data" / "html_report"


def report(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pytest_heval", "report", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def rows(passed):
    return [{"task_id": f"P/{i}", "passed": p, "compile_ok": True, "error_type": None if p else "test_failure",
             "sample_index": i} for i, p in enumerate(passed)]


def test_tables_comparison_and_html(tmp_path):
    a, b, c = (DATA / f"ckpt-{x}_results.jsonl" for x in "abc")
    r = report(b, c, "--compare-to", a, "--k", "1,2", "--per-problem", "--html", tmp_path / "out.html",
               "--resamples", "2000")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    table = {line.split()[0]: line.split() for line in lines if line.startswith("  ckpt-")}
    assert table["ckpt-b"][:6] == ["ckpt-b", "0.4167", "0.5000", "0.9167", "24", "12"]
    assert table["ckpt-c"][:3] == ["ckpt-c", "0.8182", "n/a(n<k)"]
    assert "paired comparison: ckpt-b vs ckpt-a on 12 shared problem(s)" in lines
    assert "paired comparison: ckpt-c vs ckpt-a on 11 shared problem(s)" in lines
    assert ["HumanEval/11", "0/2", "-"] in [line.split() for line in lines]
    page = (tmp_path / "out.html").read_text()
    # the old run is a model of its own on the page, and each comparison has its section
    assert page.count("<h2>Paired comparison") == 2 and 'id="ci-chart-2"' in page
    assert page.count('class="bar"') == 3 * 2 - 1  # ckpt-c's pass@2 is n/a


def test_fail_if_regressed_sets_the_exit_status(tmp_path):
    old = write_jsonl(tmp_path / "old_results.jsonl", rows([True] * 8))
    worse = write_jsonl(tmp_path / "worse_results.jsonl", rows([False] * 8))
    noisy = write_jsonl(tmp_path / "noisy_results.jsonl", rows([False] * 3 + [True] * 5))
    r = report(worse, "--compare-to", old, "--fail-if-regressed", "--resamples", "500")
    assert r.returncode == 1 and "regression gate FAILED: worse vs old" in r.stdout
    r = report(noisy, "--compare-to", old, "--fail-if-regressed", "--resamples", "500")
    assert r.returncode == 0 and "regression gate ok: noisy vs old" in r.stdout


def test_bad_input_is_exit_2_naming_file_line_field(tmp_path):
    bad = tmp_path / "bad_results.jsonl"
    bad.write_text(json.dumps(rows([True])[0]) + "\n" + '{"task_id": 3, "passed": true}\n')
    r = report(bad)
    assert r.returncode == 2 and "bad_results.jsonl:2: field 'task_id'" in r.stderr
    r = report(tmp_path / "missing_results.jsonl")
    assert r.returncode == 2 and "no such results file" in r.stderr
    r = report(DATA / "ckpt-a_results.jsonl", "--k", "0")
    assert r.returncode == 2 and "--k" in r.stderr
    r = report(DATA / "ckpt-a_results.jsonl", "--fail-if-regressed")
    assert r.returncode == 2 and "--fail-if-regressed needs --compare-to" in r.stderr


@pytest.mark.parametrize("paths,expected", [
    (["/r/ckpt1/samples.jsonl", "/r/ckpt2/samples.jsonl"], ["ckpt1/samples.jsonl", "ckpt2/samples.jsonl"]),
    (["/r/a.jsonl", "/q/b.jsonl"], ["a.jsonl", "b.jsonl"]),
    (["/r/x/s.jsonl_results.jsonl", "/r/y/s.jsonl"], ["x/s.jsonl", "y/s.jsonl"]),
    (["/r/s.jsonl", "/r/s.jsonl_results.jsonl"], ["s.jsonl", "s.jsonl (2)"]),
    (["/a/b/c/m.jsonl", "/a/x/c/m.jsonl"], ["b/c/m.jsonl", "x/c/m.jsonl"]),
    ([], []),
])
def test_labels_are_the_shortest_distinguishing_suffix(paths, expected):
    assert labels(paths) == expected


def test_report_modules_import_no_pytest():
    code = ("import sys, pytest_heval.cli, pytest_heval.compare, pytest_heval.report.html, "
            "pytest_heval.report.checkpoints\nprint(sorted(m for m in sys.modules if m == 'pytest' or "
            "m.startswith(('_pytest', 'pytest.', 'xdist', 'pytest_timeout'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
