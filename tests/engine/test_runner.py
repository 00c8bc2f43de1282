"""The in-sandbox runner's process start, both ways: the compiled spawn helper (posix_spawn, the fast
path) and the Python fork it falls back to without a C compiler. Both must give a command the same
world: its own session, the limits, the uid, no new privileges, default SIGPIPE/SIGXFSZ, stdin from
/dev/null, its own cwd; and both must say clearly when a command cannot start."""

from __future__ import annotations

import os
import time

import pytest

from pytest_heval.sandbox import runner as jail
from pytest_heval.sandbox import spawn
from pytest_heval.sandbox.spawn import install_spawner as build_spawner

ROOT = os.geteuid() == 0


@pytest.fixture(params=["spawner", "python-fork"])
def start_path(request, tmp_path, monkeypatch):
    if request.param == "spawner":
        exe = str(tmp_path / "heval-spawn")
        if not build_spawner(exe):
            pytest.fail("no C compiler could build the spawn helper (rustc needs one to link, so it should be here)")
        monkeypatch.setattr(jail, "SPAWNER", exe)
    else:
        monkeypatch.setattr(jail, "SPAWNER", str(tmp_path / "absent"))
    return request.param


def sh(script: str, cwd: str, **req):
    r = jail.run(dict({"argv": ["/bin/sh", "-c", script], "cwd": cwd, "timeout": 20,
                       "env": {"PATH": "/usr/bin:/bin"}}, **req))
    assert "error" not in r, r
    return r


def test_exit_status_output_and_cwd(start_path, tmp_path):
    r = sh("pwd; echo err >&2; exit 3", str(tmp_path))
    assert r["rc"] == 3 and r["signal"] is None
    assert r["stdout"].strip() == str(tmp_path)
    assert r["stderr"].strip() == "err"


def test_limits_session_and_privileges(start_path, tmp_path):
    script = ("ulimit -v; ulimit -t; ulimit -f; ulimit -n; ulimit -c; "
              "awk '{print $6}' /proc/$$/stat; echo $$; "
              "grep -E '^(NoNewPrivs|SigIgn):' /proc/$$/status; cat; echo stdin-done")
    r = sh(script, str(tmp_path), mem_mb=512, cpu_s=7, fsize_mb=3, nofile=99)
    lines = r["stdout"].split("\n")
    assert lines[0:5] == [str(512 * 1024), "7", str(3 * 1024 * 2), "99", "0"]  # dash: -f in 512-byte blocks
    assert lines[5] == lines[6], "the command must lead a session of its own"
    status = dict(ln.split(":\t") for ln in lines[7:9])
    assert status["NoNewPrivs"].strip() == "1"
    ignored = int(status["SigIgn"], 16)
    assert not ignored & (1 << (13 - 1)), "SIGPIPE must be at its default"
    assert not ignored & (1 << (25 - 1)), "SIGXFSZ must be at its default"
    assert lines[9] == "stdin-done"  # stdin is /dev/null: cat ends at once


@pytest.mark.skipif(not ROOT, reason="dropping to another uid needs root")
def test_uid_and_groups_dropped(start_path, tmp_path):
    os.chmod(tmp_path, 0o777)
    r = sh("id -u; id -g; id -G; awk '/^Max processes/ {print $3}' /proc/$$/limits", str(tmp_path),
           uid=1_999_000_321, nproc=77)
    assert r["stdout"].split() == ["1999000321", "1999000321", "1999000321", "77"]


def test_cannot_start_is_an_error_not_an_exit_status(start_path, tmp_path):
    r = jail.run({"argv": [str(tmp_path / "no-such-binary")], "cwd": str(tmp_path), "timeout": 5})
    assert r["error"].startswith("cannot start ") and "No such file" in r["error"]
    r = jail.run({"argv": ["/bin/true"], "cwd": str(tmp_path / "no-such-dir"), "timeout": 5})
    assert r["error"].startswith("cannot start ") and "No such file" in r["error"]


def _running(cmdline: bytes) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == cmdline:
                    return True
        except OSError:
            pass
    return False


def test_timeout_kills_the_whole_group(start_path, tmp_path):
    a, b = str(300_000 + os.getpid()), str(400_000 + os.getpid())  # durations only this test uses
    t0 = time.monotonic()
    r = sh(f"sleep {a} & sleep {b}", str(tmp_path), timeout=0.5)
    assert r["timed_out"] and time.monotonic() - t0 < 10
    deadline = time.monotonic() + 5  # SIGKILL is sent; the processes may take a moment to be gone
    while (_running(f"sleep\0{a}\0".encode()) or _running(f"sleep\0{b}\0".encode())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(f"sleep\0{a}\0".encode()) and not _running(f"sleep\0{b}\0".encode())


def test_spawner_copies_are_identical_and_executable(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert build_spawner(a) and build_spawner(b)
    assert open(a, "rb").read() == open(b, "rb").read()
    assert os.stat(b).st_mode & 0o777 == 0o755


def test_spawner_cache_is_used_and_a_broken_one_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spawn.spawner_binary.cache_clear()
    assert build_spawner(str(tmp_path / "a"))
    (cached,) = (tmp_path / "cache" / "pytest-heval").iterdir()
    assert cached.read_bytes() == (tmp_path / "a").read_bytes()
    cached.write_bytes(b"#!/bin/sh\nexit 1\n")  # a broken cache entry must not be used
    spawn.spawner_binary.cache_clear()
    assert build_spawner(str(tmp_path / "b"))
    assert (tmp_path / "b").read_bytes() == (tmp_path / "a").read_bytes() == cached.read_bytes()
    spawn.spawner_binary.cache_clear()  # later tests: the user's cache again
