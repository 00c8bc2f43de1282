"""Pure logic of the run limits: which limit a timeout names, and a problem's limit under --heval-timeout auto."""

from __future__ import annotations

from pytest_heval.inputs.problems import Problem, problem_from_row
from pytest_heval.program import assemble
from pytest_heval.settings import Settings
from pytest_heval.timeouts import limit_of
from pytest_heval.verdict import classify_run

PROGRAM = assemble(Problem("A/0", "fn f() -> i32 {\n", "fn main() { f(); }\n", "2021", "humaneval", "t"), "1\n}\n")


def test_a_timeout_names_its_limit():
    cpu = classify_run({"timed_out": True, "limit": "cpu", "cpu_limit": 10.0, "wall_limit": 25.0, "signal": 9},
                       PROGRAM)
    assert (cpu["error_type"], cpu["limit"], cpu["result"]) == ("timeout", "cpu", "timed out (CPU 10 s)")
    wall = classify_run({"timed_out": True, "limit": "wall", "cpu_limit": 1.5, "wall_limit": 8.0}, PROGRAM)
    assert (wall["error_type"], wall["limit"], wall["result"]) == ("timeout", "wall", "timed out (wall clock 8 s)")


def test_problem_limit_is_max_of_minimum_and_factor_times_canonical():
    s = Settings(timeout="auto", min_timeout=1.0, timeout_factor=4.0)
    assert limit_of(None, s) is None  # no canonical solution: the fixed limit
    assert limit_of(0.004, s) == 1.0
    assert limit_of(0.75, s) == 3.0


def test_canonical_solution_is_read_from_problem_files():
    row = {"task_id": "X/1", "prompt": "fn f() {\n", "test": "#[test]\nfn t() {}\n", "canonical_solution": "}\n"}
    assert problem_from_row("p.jsonl", 1, row).canonical == "}\n"
    assert problem_from_row("p.jsonl", 1, dict(row, canonical_solution="  ")).canonical is None
    assert problem_from_row("p.jsonl", 1, {k: v for k, v in row.items() if k != "canonical_solution"}).canonical is None


def test_the_per_process_cpu_rlimit_sits_at_the_wall_backstop():
    """RLIMIT_CPU counts time a busy VM's host stole; /proc's utime+stime (what the CPU limit reads) do not. At the
    CPU limit + 2 s, the rlimit killed 20 s loops at 19.6 CPU-s on this loaded VM (a runtime error, not a timeout):
    the backstop must not be reachable by one process before the wall clock ends it."""
    from pytest_heval.sandbox.client import RunnerClient

    sent = []
    client = RunnerClient.__new__(RunnerClient)
    client.uid = None
    client.request = sent.append
    for s in (Settings(timeout=20.0), Settings(timeout=1.0), Settings(timeout=3.0, wall_timeout=60.0)):
        client.run(s.limits, ["/bin/true"], "/nonexistent")
        req = sent[-1]
        assert req["cpu_limit"] == s.limits.timeout and req["timeout"] == s.limits.wall
        assert req["cpu_s"] >= s.limits.wall + 1, req
