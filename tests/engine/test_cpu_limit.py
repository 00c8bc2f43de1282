"""The run limit is CPU time, so a verdict does not depend on the machine's load (issue 11, part 2).

A program that burns 60% of a 2.5 s CPU limit passes with the cores idle and with three busy loops of this test's
own competing for them (each in a session of its own, so that the scheduler's per-session groups cannot shield the
sample); an endless loop times out on the CPU limit either way. Under the same load a wall-clock-only limit of the
same 2.5 s fails the slow-but-correct program: that is what the CPU limit fixes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pytest_heval.inputs.problems import Problem
from pytest_heval.program import assemble
from tests.helpers import grader

LIMIT = 2.5
BURN = 0.6 * LIMIT

# the sample reads its own CPU time (user+sys of all its threads) from /proc: it burns exactly that much, however
# slowly the machine lets it
PROBLEM = Problem("Burn/0", "fn work() -> u64 {\n",
                  "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert!(work() > 0); }\n}\n",
                  "2021", "humaneval", "test")
BURNER = f"""
    let cpu = || {{
        let s = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    }};
    let mut x: u64 = 1;
    while cpu() < {BURN} {{
        for i in 0..200_000u64 {{ x = x.wrapping_mul(6364136223846793005).wrapping_add(i); }}
    }}
    x | 1
}}
"""
ENDLESS = "    let mut x: u64 = 1;\n    loop { x = std::hint::black_box(x.wrapping_add(1)); }\n}\n"


@pytest.fixture
def busy_cores():
    """Start three busy loops (each its own session), yield, stop them by PID."""
    procs = []

    def start():
        for _ in range(3):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True))
        time.sleep(0.3)

    yield start
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()


def _grade(sandbox: str, **settings):
    programs = [assemble(PROBLEM, BURNER), assemble(PROBLEM, ENDLESS)]
    with grader(sandbox, compile_timeout=60.0, **settings) as g:
        return g.grade_programs(programs)


def test_cpu_limit_gives_the_same_verdict_idle_and_under_load(busy_cores):
    idle = _grade("bwrap", timeout=LIMIT)
    busy_cores()
    loaded = _grade("bwrap", timeout=LIMIT)
    wall_only = _grade("bwrap", timeout=1000.0, wall_timeout=LIMIT)[0]  # the same 2.5 s, on the wall clock
    print(f"burner idle: {idle[0]['cpu_s']} s CPU in {idle[0]['run_s']} s; loaded: {loaded[0]['cpu_s']} s CPU in "
          f"{loaded[0]['run_s']} s; endless loop idle {idle[1]['run_s']} s, loaded {loaded[1]['run_s']} s wall")
    for burn, endless in (idle, loaded):
        assert burn["passed"], burn["result"]
        assert BURN - 0.05 <= burn["cpu_s"] < LIMIT
        assert endless["error_type"] == "timeout" and endless["limit"] == "cpu", endless["result"]
        assert endless["result"] == f"timed out (CPU {LIMIT:g} s)"
        assert LIMIT <= endless["cpu_s"] < LIMIT + 0.3
    # under load, the burner took longer than its CPU time on the wall clock: a wall-clock limit fails it
    assert loaded[0]["run_s"] > LIMIT, loaded[0]
    assert wall_only["error_type"] == "timeout" and wall_only["limit"] == "wall", wall_only
    assert wall_only["result"] == f"timed out (wall clock {LIMIT:g} s)"
    assert wall_only["cpu_s"] < LIMIT


@pytest.mark.parametrize("sandbox", ["firejail", "bwrap"])
def test_a_sleeping_program_ends_at_the_wall_backstop(sandbox):
    """No CPU used, so only the wall-clock backstop can end it; a CPU loop in a forked child is counted too."""
    sleeper = assemble(PROBLEM, "    std::thread::sleep(std::time::Duration::from_secs(60));\n    1\n}\n")
    # a child process burning CPU while the parent waits (fork, not exec: a sealed run cannot start programs)
    forker = assemble(PROBLEM, '    extern "C" { fn fork() -> i32; fn wait(s: *mut i32) -> i32; }\n'
                               '    if unsafe { fork() } == 0 { let mut x = 0u64; loop { x = x.wrapping_add(1); '
                               'std::hint::black_box(x); } }\n'
                               '    unsafe { wait(std::ptr::null_mut()); }\n    1\n}\n')
    with grader(sandbox, timeout=1.0, wall_timeout=3.0, compile_timeout=60.0) as g:
        slept, forked = g.grade_programs([sleeper, forker])
    assert slept["error_type"] == "timeout" and slept["limit"] == "wall" and slept["cpu_s"] < 0.5, slept
    assert 3.0 <= slept["run_s"] < 5.0
    assert forked["error_type"] == "timeout" and forked["limit"] == "cpu", forked
    assert forked["result"] == "timed out (CPU 1 s)"


@pytest.fixture(params=["spawner", "python-fork"])
def start_path(request, tmp_path, monkeypatch):
    """Both ways the runner starts a command (the compiled helper, the Python fork it falls back to)."""
    from pytest_heval.sandbox import runner as jail
    from pytest_heval.sandbox.spawn import install_spawner

    exe = str(tmp_path / "heval-spawn")
    if request.param == "spawner":
        assert install_spawner(exe)
    monkeypatch.setattr(jail, "SPAWNER", exe if request.param == "spawner" else str(tmp_path / "absent"))
    return jail


def test_runner_counts_the_whole_tree(start_path, tmp_path):
    jail = start_path
    sh = {"cwd": str(tmp_path), "env": {"PATH": "/usr/bin:/bin"}, "timeout": 20}
    # two CPU loops in children (one of them orphaned by its subshell): their CPU adds up against one limit
    r = jail.run(dict(sh, argv=["/bin/sh", "-c", "(while :; do :; done) & (sh -c 'while :; do :; done' &) ; wait"],
                      cpu_limit=1.0, cpu_s=5))
    assert r["timed_out"] and r["limit"] == "cpu" and 1.0 <= r["cpu"] < 1.3, r
    r = jail.run(dict(sh, argv=["/bin/true"], cpu_limit=1.0, cpu_s=5))
    assert not r["timed_out"] and r["limit"] is None and r["cpu"] < 0.5
    # the per-process RLIMIT_CPU backstop ends it first (a CPU limit above it): still a CPU timeout
    r = jail.run(dict(sh, argv=["/bin/sh", "-c", "while :; do :; done"], cpu_limit=50.0, cpu_s=1))
    assert r["timed_out"] and r["limit"] == "cpu" and r["signal"] == signal.SIGKILL, r
