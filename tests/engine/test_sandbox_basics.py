"""The adversarial basics, judged for real (rustc + firejail / bwrap): contained and never passing."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from pytest_heval.inputs.problems import Problem
from pytest_heval.program import assemble
from tests.helpers import grader

LIBTEST = Problem("T/0", "fn add(a: i32, b: i32) -> i32 {\n",
                  "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(2, 3), 5); }\n}\n",
                  "2021", "humaneval", "test")
MAIN = Problem("M/0", "fn add(a: i32, b: i32) -> i32 {\n",
               "}\nfn main() { let c = add; assert_eq!(c(2, 3), 5); }\n", "2015", "multipl-e", "test")

SECRET = "heval-test-secret-7f3a"
# a sleep only this test process's samples start (xdist may run the other sandbox's test at the same time)
SLEEP = str(1000 + os.getpid())


@pytest.fixture(scope="module")
def listener():
    """A loopback listener of our own: a sample must not reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                accepted.append(1)
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join()
    srv.close()


@pytest.fixture(scope="module")
def home_secret():
    path = os.path.join(os.path.expanduser("~"), f".heval-test-secret-{os.getpid()}")  # one per xdist worker
    with open(path, "w") as f:
        f.write(SECRET)
    os.chmod(path, 0o644)  # readable by anyone who can see it: the sandbox must hide it
    yield path
    os.unlink(path)


def cases(port: int, secret_path: str):
    return {
        "exit0": ("std::process::exit(0)", "tampering"),
        "panic_hook_exit0": ('std::panic::set_hook(Box::new(|_| std::process::exit(0))); panic!("x")', "tampering"),
        "infinite_loop": ("loop {}", "timeout"),
        "alloc_8gib": ("let v = vec![1u8; 8usize << 30]; v[4096] as i32 + a + b", "memory_limit"),
        "stdout_100mb": ('let s = "x".repeat(1 << 20); for _ in 0..100 { println!("{}", s); } a + b', "output_limit"),
        "connect_loopback": (f'std::net::TcpStream::connect("127.0.0.1:{port}").unwrap(); a + b', "test_failure"),
        "read_home_file": (f'std::fs::read_to_string("{secret_path}").unwrap(); a + b', "test_failure"),
        "include_home_file": (f'include_str!("{secret_path}").len() as i32 + a + b - {len(SECRET)}', "compile_error"),
        "write_outside": ('std::fs::write("/tmp/heval-escape", "x").unwrap(); '
                          'std::fs::write("/etc/heval-escape", "x").unwrap(); a + b', "test_failure"),
        "orphan_process": (f'std::process::Command::new("sleep").arg("{SLEEP}").spawn().unwrap(); a + b - 1',
                           "test_failure"),
    }


@pytest.fixture(scope="module", params=["firejail", "bwrap"])
def executor(request):
    ex = grader(request.param, timeout=3)
    yield ex
    ex.close()


def test_adversarial_basics_are_contained_and_never_pass(executor, listener, home_secret):
    port, accepted = listener
    outcomes = {}
    for name, (body, expected) in cases(port, home_secret).items():
        for problem in (LIBTEST, MAIN):
            completion = body + "\n}\n" if problem is LIBTEST else body + "\n"
            v = executor.grade_programs([assemble(problem, completion)])[0]
            outcomes[(name, problem.style)] = (v["passed"], v["error_type"])
            assert v["passed"] is False, (name, problem.style, v)
            assert v["error_type"] == expected, (name, problem.style, v["result"], v.get("stderr", "")[-300:])
    assert accepted == []  # nothing reached the listener
    assert not os.path.exists("/tmp/heval-escape") and not os.path.exists("/etc/heval-escape")
    # nothing the samples started outlives them: no `sleep 300` anywhere on the machine is ours
    mine = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == b"sleep\x00" + SLEEP.encode() + b"\x00":
                    mine.append(pid)
        except OSError:
            pass
    assert mine == []


def test_honest_code_still_passes_in_the_sandbox(executor):
    honest = [
        "let t = std::thread::spawn(move || a + b); t.join().unwrap()",
        "let m = std::sync::Arc::new(std::sync::Mutex::new(a)); *m.lock().unwrap() += b; let r = *m.lock().unwrap(); r",
        "let (mut x, mut y) = (b, a); std::mem::swap(&mut x, &mut y); x + y",
        'println!("debug {}", a); let v = vec![0u8; 200 << 20]; a + b + v[1000] as i32',
        "fn f(n: u32) -> i32 { if n == 0 { 0 } else { f(n - 1) } } f(10000) + a + b",
        "let _ = std::env::args().count(); a + b",
    ]
    for body in honest:
        for problem in (LIBTEST, MAIN):
            completion = body + "\n}\n" if problem is LIBTEST else body + "\n"
            v = executor.grade_programs([assemble(problem, completion)])[0]
            assert v["passed"] is True, (body, problem.style, v["result"], v.get("stderr", "")[-300:])
