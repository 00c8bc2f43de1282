"""``--heval-resume`` (issue 10, item 3): a run killed with SIGKILL, then resumed, ends with the results and metrics
of one uninterrupted run; torn last lines and infra_error rows are graded again; a results file of other samples
or another grading is refused, saying what differs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from tests.helpers import ADD_PROBLEM, REPO, read_jsonl, write_jsonl
from tests.plugin.same_run import comparable_metrics, comparable_rows

N = 40
SLEEP = "    std::thread::sleep(std::time::Duration::from_millis(200));\n"


def samples() -> List[dict]:
    """Passing, failing (both taking 200 ms to run) and non-compiling samples over five problems, all distinct."""
    kinds = [SLEEP + "    a + b + I - I\n}\n", SLEEP + "    a - b + I\n}\n", "    a + I +\n}\n", "    a + b + I - I\n}\n"]
    return [{"task_id": f"Add/{i % 5}", "completion": kinds[i % 4].replace("I", str(i)), "model": "m"}
            for i in range(N)]


def write_inputs(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "problems.jsonl", [dict(ADD_PROBLEM, task_id=f"Add/{t}") for t in range(5)])
    return write_jsonl(d / "samples.jsonl", samples())


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def argv(*extra: str) -> List[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--heval", "samples.jsonl",
            "--heval-problems=problems.jsonl", "--heval-k", "1,2", "-n", "2", *extra]


def heval(d: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv(*extra), cwd=d, env=_env(), capture_output=True, text=True, timeout=600)


def results(d: Path) -> List[dict]:
    return read_jsonl(d / "samples.jsonl_results.jsonl")


def metrics(d: Path) -> dict:
    return json.loads((d / "samples.jsonl_metrics.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run."""
    d = tmp_path_factory.mktemp("reference")
    write_inputs(d)
    r = heval(d)
    assert r.returncode == 1, r.stdout + r.stderr  # some samples fail
    assert f"({N} rows for {N} samples: complete;" in r.stdout, r.stdout
    return d


def _descendants(pid: int) -> List[int]:
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    out += [int(c)] + _descendants(int(c))
    except OSError:
        pass
    return out


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _whole_rows(path: Path) -> List[dict]:
    """The whole rows of a streamed results file (each must parse); a torn last line is allowed."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


@pytest.mark.parametrize("after", [1, 25], ids=["early", "late"])
def test_sigkill_of_the_controller_then_resume_equals_one_run(tmp_path, reference, after):
    d = tmp_path / "killed"
    write_inputs(d)
    streamed = d / "samples.jsonl_results.jsonl"
    proc = subprocess.Popen(argv(), cwd=d, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while len(_whole_rows(streamed)) < after:
            assert proc.poll() is None, "the run ended before it could be killed:\n" + proc.stdout.read().decode()
            assert time.monotonic() < deadline, "no rows appeared"
            time.sleep(0.02)
        workers = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the controller only, by its own pid
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    kept = _whole_rows(streamed)
    assert after <= len(kept) < N, f"killed after {len(kept)} rows: not mid-run"
    # the workers notice their controller is gone and end (with their sandboxes) on their own
    deadline = time.monotonic() + 60
    while any(_running(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if _running(p)], "processes of the killed run still running"

    finished = {r["sample_index"] for r in kept if r["error_type"] != "infra_error"}
    r = heval(d, "--heval-resume")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out  # as the uninterrupted run: samples failed (kept ones among them)
    assert f"{len(finished)} finished row(s) of {streamed} kept, {N - len(finished)} sample(s) to grade" in out, out
    assert f"{len(finished)} deselected" in out, out
    assert f"({N} rows for {N} samples: complete; 0 missing, {N - len(finished)} graded by this run" in out, out
    rows = results(d)
    assert [x["sample_index"] for x in rows] == list(range(N))
    by_index = {x["sample_index"]: x for x in rows}
    for old in kept:  # a finished row is kept as it was, timing and all
        if old["sample_index"] in finished:
            assert by_index[old["sample_index"]] == old
    assert comparable_rows(rows) == comparable_rows(results(reference))
    assert comparable_metrics(metrics(d)) == comparable_metrics(metrics(reference))
    assert metrics(d)["pass@1"] == pytest.approx(0.5)


def test_a_torn_line_and_infra_error_rows_are_graded_again(tmp_path, reference):
    """What any killed run may leave: a row cut in the middle, rows of samples the harness failed to judge."""
    d = tmp_path / "torn"
    write_inputs(d)
    shutil.copy(reference / "samples.jsonl_metrics.json", d)
    ref_rows = results(reference)
    lines = [json.dumps(x) + "\n" for x in ref_rows[:10]]
    lines[3] = json.dumps(dict(ref_rows[3], passed=False, error_type="infra_error", result="the harness broke")) + "\n"
    torn = json.dumps(ref_rows[10])
    (d / "samples.jsonl_results.jsonl").write_text("".join(lines) + torn[:len(torn) // 2])
    r = heval(d, "--heval-resume")
    out = r.stdout + r.stderr
    assert "9 finished row(s)" in out and f"{N - 9} sample(s) to grade" in out, out
    assert f"({N} rows for {N} samples: complete; 0 missing, {N - 9} graded by this run, 0 graded twice)" in out, out
    rows = results(d)
    assert rows[3]["error_type"] == ref_rows[3]["error_type"] and rows[3]["result"] != "the harness broke"
    assert comparable_rows(rows) == comparable_rows(ref_rows)
    assert comparable_metrics(metrics(d)) == comparable_metrics(metrics(reference))


def test_nothing_left_to_grade(tmp_path, reference):
    """Resuming a finished run grades nothing and exits as that run did."""
    d = tmp_path / "done"
    write_inputs(d)
    for f in ("samples.jsonl_results.jsonl", "samples.jsonl_metrics.json"):
        shutil.copy(reference / f, d)
    r = heval(d, "--heval-resume")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"{N} deselected" in out and f"({N} rows for {N} samples: complete; 0 missing, 0 graded" in out, out
    assert results(d) == results(reference)


def test_resume_refuses_rows_of_other_samples_or_grading(tmp_path, reference):
    d = tmp_path / "other"
    write_inputs(d)
    for f in ("samples.jsonl_results.jsonl", "samples.jsonl_metrics.json"):
        shutil.copy(reference / f, d)
    before = (d / "samples.jsonl_results.jsonl").read_bytes()
    r = heval(d, "--heval-resume", "--heval-timeout", "3")
    assert r.returncode == pytest.ExitCode.USAGE_ERROR, r.stdout + r.stderr
    assert "--heval-resume:" in r.stderr and "limits.timeout_s: 10.0 then, 3.0 now" in r.stderr, r.stderr
    assert "cannot be resumed" in r.stderr

    rows = samples()
    rows[1]["completion"] = "    a * b\n}\n"
    write_jsonl(d / "samples.jsonl", rows)
    r = heval(d, "--heval-resume")
    assert r.returncode == pytest.ExitCode.USAGE_ERROR, r.stdout + r.stderr
    assert "other samples (line 2 does not match row 1 of the samples file)" in r.stderr, r.stderr

    (d / "samples.jsonl_metrics.json").unlink()  # a run whose grading is unknown
    write_inputs(d)
    r = heval(d, "--heval-resume")
    assert r.returncode == pytest.ExitCode.USAGE_ERROR and "grading is unknown" in r.stderr, r.stderr
    assert (d / "samples.jsonl_results.jsonl").read_bytes() == before  # refused: nothing touched


def test_a_full_run_that_ends_incomplete_is_an_error(pytester):
    """Completeness (item 6): a sample that silently drops out of a run over the whole file (here a conftest
    deselects it without telling anyone) makes the run fail, though every graded sample passed."""
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(pytester.path / "samples.jsonl", [{"task_id": "Add/0", "completion": "    a + b\n}\n"}] * 3)
    pytester.makeconftest(
        "def pytest_collection_modifyitems(items):\n"
        "    items[:] = [i for i in items if not i.name.endswith('#1')]\n")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", "samples.jsonl", "--heval-problems",
                                      "problems.jsonl", "--heval-k", "1")
    out = r.stdout.str()
    assert r.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "2 passed" in out and "(2 rows for 3 samples: INCOMPLETE; 1 missing, 2 graded by this run" in out, out
    assert "ERROR: results incomplete: samples.jsonl: 2 rows for 3 samples at the end of a run over the whole " \
           "file" in out, out
    m = json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())
    assert m["complete"] is False and m["missing"] == 1 and m["status"] == "incomplete"
