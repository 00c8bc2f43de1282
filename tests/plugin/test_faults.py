"""Faults during a real run (rustc + sandbox): a killed xdist worker, Ctrl-C, a full or read-only results disk.

The runs are ``python -m pytest --heval ...`` subprocesses in the pytester directory. Only processes this file
started are signalled: the Popen's pid, or a pid found by walking ``/proc/<pid>/task/*/children`` down from it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.helpers import ADD_PROBLEM, write_jsonl

GOOD = "    a + b\n}\n"
WRONG = "    a - b\n}\n"
LOOP = "    loop {}\n}\n"
SLEEP = "    std::thread::sleep(std::time::Duration::from_millis(1200));\n    a + b\n}\n"
COMPLETIONS = {"good": GOOD, "wrong": WRONG, "loop": LOOP, "sleep": SLEEP}
EXPECTED = {"good": "passed", "wrong": "test_failure", "loop": "timeout", "sleep": "passed"}


# ---------------------------------------------------------------- processes

def _children(pid: int) -> List[int]:
    out: List[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def _descendants(pid: int) -> List[int]:
    seen: List[int] = []
    todo = [pid]
    while todo:
        for c in _children(todo.pop()):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


def _argv(pid: int) -> List[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _starttime(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # field 22: start time, tells a reused pid apart
    except (OSError, IndexError):
        return None


class Run:
    """`python -m pytest -p no:cacheprovider ARGS` in the pytester directory, output to a file."""

    def __init__(self, pytester, *args: str):
        self.dir = Path(pytester.path)
        self.out_path = self.dir / "run.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST") and k != "PYTEST_CURRENT_TEST"}
        env["COLUMNS"] = "400"  # the short summary's lines (xdist's crash report among them) are not cut
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                                         cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.seen: Dict[int, Tuple[Optional[str], List[str]]] = {}  # every descendant ever seen
        self.first_seen: Dict[int, float] = {}

    def scan(self) -> List[int]:
        pids = _descendants(self.proc.pid)
        for pid in pids:
            if pid not in self.seen:
                self.seen[pid] = (_starttime(pid), _argv(pid))
                self.first_seen[pid] = time.monotonic()
        return pids

    def workers(self) -> List[int]:
        """The xdist workers: the controller's python children (execnet starts them as `python -c ...`)."""
        return [c for c in _children(self.proc.pid) if _argv(c)[:1] == [sys.executable] or
                any("execnet" in a or "xdist" in a or "sys.stdin.readline" in a for a in _argv(c))]

    def alive(self) -> List[Tuple[int, List[str]]]:
        """Descendants seen during the run that still exist (same pid and start time)."""
        return [(pid, argv) for pid, (st, argv) in self.seen.items() if st is not None and _starttime(pid) == st]

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run did not end within {timeout} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.scan()
            self.proc.kill()
            self.proc.wait()
        for pid, _ in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _rows_in(path: Path) -> Tuple[List[dict], List[str]]:
    """The rows of a (possibly growing) JSONL file: every line ended by a newline; and the lines that do not parse."""
    try:
        data = path.read_bytes()
    except OSError:
        return [], []
    rows, bad = [], []
    for line in data.split(b"\n")[:-1]:
        try:
            rows.append(json.loads(line))
        except ValueError:
            bad.append(line[:200].decode(errors="replace"))
    return rows, bad


def _samples(pytester, kinds: List[str]) -> Path:
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    # a comment keeps the programs distinct (duplicates would be judged once)
    return write_jsonl(pytester.path / "samples.jsonl", [
        {"task_id": "Add/0", "completion": COMPLETIONS[k] + f"// {i}\n", "kind": k} for i, k in enumerate(kinds)])


class Problems:
    """Soft assertions: a scenario checks every property, then fails once listing all that do not hold."""

    def __init__(self) -> None:
        self.found: List[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.found.append(what)

    def verify(self, output: str) -> None:
        at = output.find("pytest-heval summary")
        tail = output[max(0, at - 100):][:3000] if at >= 0 else output[-3000:]
        assert not self.found, "\n".join(["", *("* " + f for f in self.found), "--- output (summary) ---", tail])


def _no_traceback(p: Problems, output: str) -> None:
    p.check("INTERNALERROR" not in output, "INTERNALERROR in the output")
    p.check("Traceback (most recent call last)" not in output, "a Python traceback in the output")


# ---------------------------------------------------------------- a worker killed mid-run

KILL_KINDS = ["good", "wrong", "good", "loop", "good", "wrong", "good", "good", "loop", "wrong", "good", "good"]


def _worker_running_a_loop(run: Run) -> Optional[Tuple[int, int]]:
    """(worker pid, test process pid) of a worker whose sample's test process has run for over 1.5 s."""
    for w in run.workers():
        for d in _descendants(w):
            argv = _argv(d)
            if argv and argv[0].endswith("/batch") and "--test-threads=1" in argv:
                run.scan()
                if time.monotonic() - run.first_seen.get(d, time.monotonic()) > 1.5:
                    return w, d
    return None


def test_a_worker_killed_mid_run(pytester):
    path = _samples(pytester, KILL_KINDS)
    results = Path(str(path) + "_results.jsonl")
    run = Run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "-n", "2",
              "--heval-timeout", "20")
    killed: Optional[int] = None
    before: List[dict] = []
    crash_rows_streamed: Dict[int, dict] = {}
    corrupt: List[str] = []
    work_roots: List[str] = []
    try:
        deadline = time.monotonic() + 170
        while run.proc.poll() is None:
            assert time.monotonic() < deadline, "the run did not end:\n" + run.output()[-3000:]
            run.scan()
            rows, bad = _rows_in(results)
            corrupt += bad
            for r in rows:
                if r.get("error_type") == "infra_error":
                    crash_rows_streamed.setdefault(r["sample_index"], r)
            if killed is None and rows:
                target = _worker_running_a_loop(run)
                if target is not None:
                    before = rows
                    for d in _descendants(target[0]):
                        m = re.search(r"(/\S*/heval-w\d+-[^/\s]+)/jail\.py", " ".join(_argv(d)))
                        if m:
                            work_roots.append(m.group(1))
                    os.kill(target[0], signal.SIGKILL)  # a pid that descends from our own Popen
                    killed = target[0]
            time.sleep(0.1)
        rc = run.proc.returncode
        out = run.output()
    finally:
        run.cleanup()
        time.sleep(0.5)
        for d in work_roots:  # the killed worker's work root: no one else removes it
            shutil.rmtree(d, ignore_errors=True)

    assert killed is not None, "no worker was seen running a loop sample:\n" + out[-3000:]
    p = Problems()
    p.check(rc == pytest.ExitCode.TESTS_FAILED, f"exit status {rc}, expected 1 (tests failed)")
    _no_traceback(p, out)
    p.check(not corrupt, f"lines of the streamed results file that do not parse: {corrupt[:3]}")
    m = re.search(r"crashed while running '[^']*#(\d+)'", out)
    p.check(m is not None, "xdist's crash report is missing")
    crashed = int(m.group(1)) if m else None
    p.check(crashed is None or crashed in crash_rows_streamed,
            f"no infra_error row was streamed for the crashed sample #{crashed} "
            f"(infra rows seen for {sorted(crash_rows_streamed)})")
    final, bad = _rows_in(results)
    p.check(not bad and results.read_bytes().endswith(b"\n"), f"the final results file is not valid JSONL: {bad[:3]}")
    indexes = [r["sample_index"] for r in final]
    p.check(indexes == list(range(len(KILL_KINDS))),
            f"want exactly one row per sample in input order, got sample_index {indexes}")
    by_index = {r["sample_index"]: r for r in final}
    for r in before:  # rows written before the kill are kept as they were
        f = by_index.get(r["sample_index"])
        p.check(f is not None and (f["passed"], f["error_type"], f["result"]) ==
                (r["passed"], r["error_type"], r["result"]), f"row #{r['sample_index']} written before the kill changed: "
                f"{r['error_type']!r} -> {f and f['error_type']!r}")
    for i, kind in enumerate(KILL_KINDS):
        got = by_index.get(i, {}).get("error_type") or ("passed" if by_index.get(i, {}).get("passed") else None)
        if i == crashed:
            # the crash is an infra_error, unless xdist re-ran the sample and its real verdict replaced it
            ok = got == EXPECTED[kind] or (got == "infra_error" and "crash" in by_index[i]["result"])
        else:
            ok = got == EXPECTED[kind]
        p.check(ok, f"sample #{i} ({kind}): {got!r}")
    infra = sum(1 for r in final if r["error_type"] == "infra_error")
    metrics = json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())
    p.check(metrics.get("samples") == len(KILL_KINDS), f"metrics samples={metrics.get('samples')}")
    p.check(metrics.get("infra_errors", 0) == infra, f"metrics infra_errors={metrics.get('infra_errors')} but "
                                                     f"{infra} infra_error rows")
    if infra:
        p.check(f"{infra} infra_error" in out, "the summary does not say how many infra errors there are")
    p.check(f"{len(KILL_KINDS)} rows for {len(KILL_KINDS)} samples: complete" in out, "the summary is not complete")
    p.verify(out)


# ---------------------------------------------------------------- Ctrl-C

@pytest.mark.parametrize("mode", [["-n", "2"], ["-p", "no:xdist"]], ids=["xdist", "no-xdist"])
def test_ctrl_c(pytester, mode):
    kinds = ["good"] + ["sleep"] * 9
    path = _samples(pytester, kinds)
    results = Path(str(path) + "_results.jsonl")
    run = Run(pytester, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", *mode)
    before: List[dict] = []
    try:
        deadline = time.monotonic() + 90
        while run.proc.poll() is None and not before:
            assert time.monotonic() < deadline, "no row appeared:\n" + run.output()[-3000:]
            run.scan()
            before, _ = _rows_in(results)
            time.sleep(0.05)
        assert before, "the run ended before any row was written:\n" + run.output()[-3000:]
        run.scan()
        os.kill(run.proc.pid, signal.SIGINT)  # the Popen's own pid: as a terminal's Ctrl-C would reach pytest
        rc = run.wait(60)
        out = run.output()
        lingering = []
        for _ in range(40):  # the sandboxes and their programs should be gone soon after the run
            lingering = run.alive()
            if not lingering:
                break
            time.sleep(0.25)
    finally:
        run.cleanup()

    p = Problems()
    p.check(rc == pytest.ExitCode.INTERRUPTED, f"exit status {rc}, expected 2 (interrupted)")
    p.check("KeyboardInterrupt" in out, "pytest's KeyboardInterrupt report is missing")
    _no_traceback(p, out)
    data = results.read_bytes()
    final, bad = _rows_in(results)
    p.check(not bad and (not data or data.endswith(b"\n")), f"the results file is not valid JSONL: {bad[:3]}")
    indexes = [r["sample_index"] for r in final]
    p.check(len(set(indexes)) == len(indexes) and set(indexes) <= set(range(len(kinds))),
            f"duplicate or unknown rows: {indexes}")
    by_index = {r["sample_index"]: r for r in final}
    for r in before:
        p.check(r["sample_index"] in by_index and by_index[r["sample_index"]]["result"] == r["result"],
                f"row #{r['sample_index']} written before Ctrl-C was lost or changed")
    for r in final:
        p.check(r["passed"] or r["error_type"] == "infra_error", f"row #{r['sample_index']}: {r['error_type']}")
    status = "complete" if len(final) == len(kinds) else "INCOMPLETE"
    p.check(f"{len(final)} rows for {len(kinds)} samples: {status}" in out,
            f"the summary does not say '{len(final)} rows for {len(kinds)} samples: {status}'")
    p.check(not lingering, f"processes of the run still alive after it ended: "
                           f"{[(pid, ' '.join(a)[:80]) for pid, a in lingering]}")
    p.verify(out)


# ---------------------------------------------------------------- the results directory: full, or not writable

def _mount_tmpfs(d: Path, *options: str) -> None:
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=64k",) + options), "tmpfs", str(d)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stdout.decode(errors='replace').strip()}")


def _umount(d: Path) -> None:
    if subprocess.run(["umount", str(d)]).returncode != 0:
        subprocess.run(["umount", "-l", str(d)])


def _fill(d: Path, leave: int) -> None:
    """Fill the file system of ``d`` up to ``leave`` free bytes."""
    filler = d / "filler"
    with open(filler, "wb", buffering=0) as f:
        while True:
            st = os.statvfs(d)
            free = st.f_bavail * st.f_frsize
            if free <= leave:
                break
            try:
                f.write(b"\0" * min(4096, free - leave))
            except OSError:
                break


@pytest.mark.parametrize("leave", [0, 4096], ids=["full-from-the-start", "fills-up-mid-run"])
def test_results_disk_full(pytester, leave):
    kinds = ["good", "wrong"] * 6
    _samples(pytester, kinds)
    full = pytester.path / "full"
    _mount_tmpfs(full)
    try:
        _fill(full, leave)
        r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", "samples.jsonl", "--heval-problems",
                                          "problems.jsonl", "-n", "2", "--heval-results", "full/out")
        out = r.stdout.str() + "\n" + r.stderr.str()
        res = full / "out" / "samples.jsonl_results.jsonl"
        exists = res.exists()
        data = res.read_bytes() if exists else b""
        rows, bad = _rows_in(res)
        leftovers = sorted(x.name for x in (full / "out").iterdir()) if (full / "out").is_dir() else []
    finally:
        _umount(full)

    p = Problems()
    p.check(r.ret == pytest.ExitCode.TESTS_FAILED, f"exit status {r.ret}, expected 1 (some samples fail)")
    _no_traceback(p, out)
    p.check("cannot write" in out and "samples.jsonl_results.jsonl" in out,
            "no clear 'cannot write <results file>' message")
    p.check(not bad and (not data or data.endswith(b"\n")),
            f"the results file is not valid JSONL up to its last row: it ends with a cut row "
            f"({len(rows)} whole rows, then {data[data.rfind(b'{'):][:80]!r}...)")
    indexes = [x["sample_index"] for x in rows]
    p.check(len(set(indexes)) == len(indexes), f"duplicate rows {indexes}")
    if len(rows) < len(kinds):
        p.check(f"{len(kinds)} rows for {len(kinds)} samples: complete" not in out,
                f"the summary says the results are complete, the file holds {len(rows)} of {len(kinds)} rows")
    tmp = [x for x in leftovers if x.endswith(".tmp")]
    p.check(not tmp, f"temporary files left in the results dir: {tmp}")
    p.verify(out)


@pytest.mark.parametrize("where", ["read-only-fs", "file-in-the-way"])
def test_results_dir_not_writable_is_a_usage_error(pytester, where):
    _samples(pytester, ["good", "wrong"])
    target = pytester.path / "target"
    if where == "read-only-fs":
        _mount_tmpfs(target, "ro")
    else:
        target.write_text("not a directory\n")
    try:
        r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", "samples.jsonl", "--heval-problems",
                                          "problems.jsonl", "-n", "2", "--heval-results", "target/out")
    finally:
        if where == "read-only-fs":
            _umount(target)
    out = r.stdout.str() + "\n" + r.stderr.str()
    assert r.ret == pytest.ExitCode.USAGE_ERROR, out[-3000:]
    assert "cannot create the results file target/out/samples.jsonl_results.jsonl" in r.stderr.str(), out[-3000:]
    assert "Traceback" not in out and "INTERNALERROR" not in out
