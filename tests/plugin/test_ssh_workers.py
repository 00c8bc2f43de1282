"""pytest-xdist's own remote workers (``--tx ssh=...``) against a real sshd that the test starts on 127.0.0.1.

Nothing home-made: xdist opens the gateways with the ``ssh`` client, rsyncs the inputs (``--rsyncdir``) and
ships items and reports; the test only provides a throwaway sshd (its own host key, client key, port and
config) and checks that the controller's results file equals a local ``-n 2`` run's.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ADD_PROBLEM, REPO, read_jsonl, write_jsonl
from tests.plugin.same_run import comparable_rows as _comparable

SSHD = "/usr/sbin/sshd"

SAMPLES = [
    {"task_id": "Add/0", "completion": "    a + b\n}\n", "model": "m"},
    {"task_id": "Add/0", "completion": "    a - b\n}\n", "model": "m"},
    {"task_id": "Add/0", "completion": "    a + \n}\n", "model": "m"},
    {"task_id": "Add/0", "completion": "    a + b\n}\n", "model": "m"},  # a duplicate of row 0
    {"task_id": "Add/0", "completion": "    std::process::exit(0)\n}\n", "model": "m"},
    {"task_id": "Add/0", "completion": "    b + a\n}\n", "model": "m"},
    {"task_id": "Add/0", "completion": "    let c = a * b;\n    c\n}\n", "model": "m"},
    {"task_id": "Add/0", "completion": "    a - b\n}\n", "model": "m"},  # a duplicate of row 1
]
EXPECTED = [(True, None), (False, "test_failure"), (False, "compile_error"), (True, None),
            (False, "tampering"), (True, None), (False, "test_failure"), (False, "test_failure")]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "heval-test", "-f", str(path)],
                   check=True, capture_output=True, timeout=60)


@pytest.fixture
def sshd(tmp_path):
    """A private sshd on 127.0.0.1 (key login only) and an ssh client config with two host aliases for it.

    Yields the client config's path; the aliases are ``heval-a`` and ``heval-b``. The sshd is stopped by its
    own PID at the end (the per-connection children exit with their connections).
    """
    assert os.path.exists(SSHD), f"{SSHD} is missing: install Debian's openssh-server (.ci/setup does)"
    assert shutil.which("ssh") and shutil.which("ssh-keygen"), "the ssh client (openssh-client) is missing"
    d = tmp_path / "ssh"
    d.mkdir()
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    os.chmod(d / "authorized_keys", 0o600)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    (d / "sshd_config").write_text(
        "ListenAddress 127.0.0.1\n"
        f"HostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        # the keys live under /tmp (world-writable): StrictModes would refuse the authorized_keys file
        "StrictModes no\n"
        "PidFile none\n"
        "X11Forwarding no\n"
        "PrintMotd no\n"
    )
    host_pub = (d / "host_key.pub").read_text().split()
    log = open(d / "sshd.log", "w+")
    proc = None
    try:
        for _ in range(5):  # a free port can be taken by someone else before sshd binds it: try another
            port = _free_port()
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config"), "-p", str(port)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 15
            while proc.poll() is None and time.monotonic() < deadline:
                if f"Server listening on 127.0.0.1 port {port}." in (d / "sshd.log").read_text():
                    break
                time.sleep(0.05)
            if proc.poll() is None:
                break
        assert proc is not None and proc.poll() is None, f"sshd did not start:\n{(d / 'sshd.log').read_text()}"
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        (d / "ssh_config").write_text(
            "Host heval-a heval-b\n"
            "  HostName 127.0.0.1\n"
            f"  Port {port}\n"
            f"  User {getpass.getuser()}\n"
            f"  IdentityFile {d / 'client_key'}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {d / 'known_hosts'}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  LogLevel ERROR\n"
        )
        yield d / "ssh_config"
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


def _env() -> dict:
    """The environment of an inner pytest: this worktree's plugin, none of the outer run's xdist variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else str(REPO)
    return env


def _remote_python() -> str:
    """``python=`` of the tx spec: a command line run by the remote login shell.

    It runs this interpreter with this worktree first on sys.path (on a real host: the installed pytest-heval)
    and this process's PATH and rustup variables, so the remote side finds the same rustc whatever the
    login's profile says.
    """
    env = [f"PYTHONPATH={REPO}", f"PATH={os.environ['PATH']}"]
    env += [f"{k}={os.environ[k]}" for k in ("RUSTUP_HOME", "CARGO_HOME", "RUSTC") if k in os.environ]
    return "env " + " ".join(shlex.quote(e) for e in env) + " " + shlex.quote(sys.executable)


def _pytest(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)



def test_two_ssh_gateways_give_the_results_of_a_local_run(tmp_path, sshd):
    # the local reference: the usual command, relative paths, -n 2
    local = tmp_path / "local"
    local.mkdir()
    write_jsonl(local / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(local / "samples.jsonl", SAMPLES)
    ref = _pytest(local, "--heval", "samples.jsonl", "--heval-problems", "problems.jsonl", "--heval-k", "1,2",
                  "-n", "2")
    assert ref.returncode == 1, ref.stdout + ref.stderr
    ref_rows = read_jsonl(local / "samples.jsonl_results.jsonl")
    assert [(r["passed"], r["error_type"]) for r in ref_rows] == EXPECTED

    # the same inputs through two ssh gateways, each with a work dir of its own (as if two machines)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_jsonl(inputs / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(inputs / "samples.jsonl", SAMPLES)
    python = _remote_python()
    tx = []
    for alias in ("heval-a", "heval-b"):
        tx += ["--tx", f"ssh_config={sshd}//ssh={alias}//python={python}//chdir={tmp_path / alias}"]
    r = _pytest(inputs, "--heval", str(inputs / "samples.jsonl"), "--heval-problems", str(inputs / "problems.jsonl"),
                "--heval-k", "1,2", *tx, "--dist", "load", "--rsyncdir", str(inputs), "-v")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "2 workers [8 items]" in out, out
    for gw in ("gw0", "gw1"):  # both gateways graded samples
        assert re.search(rf"\[{gw}\] .*(PASSED|FAILED)", out), out
    log = (sshd.parent / "sshd.log").read_text()
    assert log.count("Accepted publickey for") >= 2, log  # two real ssh logins
    for alias in ("heval-a", "heval-b"):  # each remote worker read its own rsynced copy
        assert (tmp_path / alias / "inputs" / "samples.jsonl").read_text() == (inputs / "samples.jsonl").read_text()

    # the controller wrote the results: equal to the local run's, timing and scratch paths aside
    rows = read_jsonl(inputs / "samples.jsonl_results.jsonl")
    assert len(rows) == len(SAMPLES)
    assert _comparable(rows) == _comparable(ref_rows)
    m = json.loads((inputs / "samples.jsonl_metrics.json").read_text())
    ref_m = json.loads((local / "samples.jsonl_metrics.json").read_text())
    for key in ("pass@1", "pass@2", "compile_rate", "error_counts", "samples", "passed", "compiled", "rustc",
                "sandbox", "limits"):
        assert m.get(key) == ref_m.get(key), key
    assert m["pass@1"] == pytest.approx(3 / 8)
    assert "(8 rows for 8 samples: complete;" in out, out


def test_a_host_that_cannot_start_a_worker_ends_the_run(tmp_path, sshd):
    """A remote host without rustc: its worker's usage error is shown and xdist stops replacing it (-n's bound,
    4 restarts per worker; with --tx alone xdist has no bound and would start workers forever)."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_jsonl(inputs / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(inputs / "samples.jsonl", SAMPLES[:2])
    spec = (f"ssh_config={sshd}//ssh=heval-a//python={_remote_python()}//chdir={tmp_path / 'a'}"
            "//env:RUSTC=/nonexistent/rustc")
    r = _pytest(inputs, "--heval", str(inputs / "samples.jsonl"), "--heval-problems", str(inputs / "problems.jsonl"),
                "--tx", spec, "--dist", "load", "--rsyncdir", str(inputs), timeout=240)
    out = r.stdout + r.stderr
    assert "rustc not found ('/nonexistent/rustc' is not on PATH)" in out, out
    assert "maximum crashed workers reached: 4" in out, out
    assert out.count("replacing crashed worker") == 4, out
    assert "(0 rows for 2 samples: INCOMPLETE;" in out, out


def test_a_host_that_grades_differently_is_refused(tmp_path, sshd):
    """The controller's ini file (here: its timeout) is not read on a remote host, whose rootdir is the rsynced
    directory: that worker would grade with other limits than the metrics file records. It refuses to start,
    naming what differs."""
    project = tmp_path / "project"
    inputs = project / "inputs"
    inputs.mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\nheval_timeout = 3\n")
    write_jsonl(inputs / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(inputs / "samples.jsonl", SAMPLES[:2])
    spec = f"ssh_config={sshd}//ssh=heval-a//python={_remote_python()}//chdir={tmp_path / 'a'}"
    r = _pytest(project, "--heval", str(inputs / "samples.jsonl"), "--heval-problems", str(inputs / "problems.jsonl"),
                "--tx", spec, "--dist", "load", "--rsyncdir", str(inputs), "--max-worker-restart", "0", timeout=240)
    out = r.stdout + r.stderr
    assert "worker gw0 grades differently from the controller: limits: {'timeout_s': 10.0," in out, out
    assert "{'timeout_s': 3.0," in out, out
    assert "worker gw0 crashed and worker restarting disabled" in out, out
    assert "(0 rows for 2 samples: INCOMPLETE;" in out, out


def test_worker_count_of_tx_specs_without_n(pytester, monkeypatch):
    """The controller plans batches for as many workers as the --tx specs start (the workers do too)."""
    from pytest_heval.plugin.xdist import n_workers

    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert n_workers(pytester.parseconfig("--tx", "ssh=a", "--tx", "ssh=b")) == 2
    assert n_workers(pytester.parseconfig("--tx", "3*ssh=a", "--tx", "popen")) == 4
    assert n_workers(pytester.parseconfig("-n", "2")) == 2
    assert n_workers(pytester.parseconfig()) == 1
