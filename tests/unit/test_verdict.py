"""Unit tests for the pure verdict functions of execute.py (hand-made runner results, no rustc, no sandbox),
and for the pure parts of sandbox.py (hidden_paths, get_sandbox's argument checking)."""

from __future__ import annotations

import os
import signal

import pytest

from pytest_heval.errors import SetupError
from pytest_heval.verdict import ERROR_TYPES, classify_compile, classify_run, infra_verdict, verdict
from pytest_heval.inputs.problems import problem_from_row
from pytest_heval.program import PROOF_PREFIX, TAMPER_EXIT, TAMPER_MESSAGE, assemble
from pytest_heval.sandbox.jails import KINDS, SYSTEM_DIRS, NoSandbox, get_sandbox, hidden_paths

from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM

LIB = assemble(problem_from_row("p.jsonl", 1, ADD_PROBLEM), "    a + b\n}\n")
MAIN = assemble(problem_from_row("p.json", 1, ADD_MAIN_PROBLEM), "    a + b\n")
TWO = assemble(problem_from_row("p.jsonl", 1, dict(
    ADD_PROBLEM, test="#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn test_one() { assert!(true); }\n"
                      "    #[test]\n    fn test_two() { assert_eq!(add(1, 1), 2); }\n}\n")), "    a + b\n}\n")


def summary(status="ok", passed=1, failed=0):
    return (f"test result: {status}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out; "
            "finished in 0.00s\n")


OK_OUT = "\nrunning 1 test\ntest tests::test_add ... ok\n\n" + summary() + "\n"
FAIL_OUT = ("\nrunning 1 test\ntest tests::test_add ... FAILED\n\nfailures:\n\nfailures:\n    tests::test_add\n\n"
            + summary("FAILED", 0, 1) + "\n")
PANIC_ERR = ("\nthread 'tests::test_add' panicked at main.rs:9:9:\nassertion `left == right` failed\n  left: 4\n"
             " right: 5\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
MAIN_PANIC_ERR = ("\nthread 'main' panicked at main.rs:5:5:\nassertion `left == right` failed\n  left: 4\n right: 5\n"
                  "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")


def run(rc=0, sig=None, stdout="", stderr="", proof=True, **kw):
    """A runner result as sandbox/runner.py reports it; ``proof``: the exit guard reported that main returned 0."""
    r = {"rc": rc, "signal": sig, "timed_out": False, "out_exceeded": False, "duration": 0.01,
         "stdout": stdout, "stderr": stderr, "stdout_bytes": len(stdout.encode()),
         "stderr_bytes": len(stderr.encode()), "proof": PROOF_PREFIX + "0\n" if proof else ""}
    r.update(kw)
    return r


@pytest.mark.parametrize("prog,out", [("LIB", OK_OUT), ("MAIN", "")])
def test_clean_exit_without_end_of_run_proof_is_tampering(prog, out):
    """A fake summary and exit status 0 are not enough: the guard must report (on its socket, not stdout)
    that main returned 0."""
    p = {"LIB": LIB, "MAIN": MAIN}[prog]
    v = classify_run(run(0, stdout=out, proof=False), p)
    assert v["passed"] is False and v["error_type"] == "tampering"
    on_stdout = run(0, stdout=out + PROOF_PREFIX + "0\n", proof=False)
    assert classify_run(on_stdout, p)["error_type"] == "tampering"
    nonzero = dict(run(0, stdout=out), proof=PROOF_PREFIX + "101\n")
    assert classify_run(nonzero, p)["error_type"] == "tampering"
    assert classify_run(run(0, stdout=out), p)["passed"] is True  # the same with the report: a pass


def check(v, passed, error_type, result=None, compile_ok=True):
    assert v["passed"] is passed
    assert v["error_type"] == error_type
    assert v["compile_ok"] is compile_ok
    assert error_type is None or error_type in ERROR_TYPES
    if result is not None:
        assert v["result"] == result, v["result"]
    return v


# ---------------------------------------------------------------- classify_compile


def test_compile_ok_is_none():
    assert classify_compile(run(0, stderr="warning: unused variable: `x`\n")) is None


def test_compile_error_first_error_line():
    err = ("warning: unused import\n --> main.rs:1:5\nerror[E0425]: cannot find value `y` in this scope\n"
           " --> main.rs:3:5\nerror: aborting due to 1 previous error\n")
    v = check(classify_compile(run(1, stderr=err)), False, "compile_error",
              "failed: error[E0425]: cannot find value `y` in this scope", compile_ok=False)
    assert v["stderr"] == err and v["stdout"] == ""


def test_compile_error_without_error_line():
    check(classify_compile(run(1, stderr="something odd\n")), False, "compile_error", "failed: compilation failed",
          compile_ok=False)


def test_compile_timeout():
    v = check(classify_compile(run(None, sig=signal.SIGKILL, timed_out=True, stderr="partial")), False,
              "compile_timeout", "failed: compile timed out", compile_ok=False)
    assert v["stderr"] == "partial"


def test_compile_killed_by_signal():
    check(classify_compile(run(None, sig=signal.SIGKILL)), False, "compile_error", "failed: rustc killed by SIGKILL",
          compile_ok=False)
    check(classify_compile(run(None, sig=signal.SIGABRT, stderr="memory allocation of 8 bytes failed\n")), False,
          "compile_error", "failed: rustc killed by SIGABRT (memory limit?)", compile_ok=False)


@pytest.mark.parametrize("c", [run(127, stderr="rustc: not found"),
                               run(1, stderr="error: linker `cc` not found\n  |\n  = note: No such file\n"),
                               {"error": "cannot start rustc: [Errno 2] No such file or directory", "duration": 0}])
def test_compile_infra(c):
    v = check(classify_compile(c), False, "infra_error", compile_ok=False)
    assert v["result"].startswith("infra error: ")


# ---------------------------------------------------------------- classify_run: libtest


def test_libtest_pass():
    v = check(classify_run(run(0, stdout=OK_OUT), LIB), True, None, "passed")
    assert v["exit_code"] == 0 and v["signal"] is None
    assert v["stdout"] == OK_OUT and v["stderr"] == ""
    assert "stdout_truncated" not in v and "stderr_truncated" not in v


def test_libtest_pass_test_output_interleaved():
    out = "\nrunning 1 test\ntest tests::test_add ... debug line\nok\n\n" + summary() + "\n"
    check(classify_run(run(0, stdout=out), LIB), True, None)


def test_libtest_ignored_test_counts_as_run():
    out = ("\nrunning 2 tests\ntest tests::test_one ... ok\ntest tests::test_two ... ignored\n\n"
           + "test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n")
    check(classify_run(run(0, stdout=out), TWO), True, None)


def test_libtest_failed_summary_with_panic_message():
    check(classify_run(run(101, stdout=FAIL_OUT, stderr=PANIC_ERR), LIB), False, "test_failure",
          "failed: assertion `left == right` failed")


def test_libtest_failed_summary_without_panic_message():
    check(classify_run(run(101, stdout=FAIL_OUT), LIB), False, "test_failure", "failed: test failed")


def test_libtest_last_summary_wins():
    """A fake ``ok`` summary printed by the solution does not hide libtest's own FAILED one."""
    out = "running 1 test\ntest tests::test_add ... " + summary("ok", 9) + "FAILED\n\n" + summary("FAILED", 0, 1)
    check(classify_run(run(101, stdout=out, stderr=PANIC_ERR), LIB), False, "test_failure")
    fake_fail_then_ok = "running 1 test\ntest tests::test_add ... " + summary("FAILED", 0, 3) + "ok\n\n" + summary()
    check(classify_run(run(0, stdout=fake_fail_then_ok), LIB), True, None)


def test_libtest_missing_summary():
    check(classify_run(run(0, stdout="running 1 test\n"), LIB), False, "runtime_error",
          "failed: exit status 0 without a libtest summary")
    check(classify_run(run(101, stdout="", stderr=PANIC_ERR), LIB), False, "runtime_error",
          "failed: exit status 101 without a libtest summary")
    check(classify_run(run(1), LIB), False, "runtime_error", "failed: exit status 1 without a libtest summary")


def test_libtest_no_test_ran():
    out = "\nrunning 0 tests\n\n" + summary("ok", 0, 0)
    check(classify_run(run(0, stdout=out), LIB), False, "test_failure", "failed: no test ran")


def test_libtest_expected_test_missing():
    """The summary says ok, but the problem's test never ran (another test was counted instead)."""
    out = "\nrunning 1 test\ntest tests::test_other ... ok\n\n" + summary() + "\n"
    check(classify_run(run(0, stdout=out), LIB), False, "tampering", "failed: expected tests did not run: test_add")


def test_libtest_one_of_two_expected_tests_missing():
    out = "\nrunning 1 test\ntest tests::test_one ... ok\n\n" + summary() + "\n"
    v = check(classify_run(run(0, stdout=out), TWO), False, "tampering")
    assert v["result"].endswith(": test_two") and "test_one" not in v["result"]
    both = "\nrunning 2 tests\ntest tests::test_one ... ok\ntest tests::test_two ... ok\n\n" + summary("ok", 2)
    check(classify_run(run(0, stdout=both), TWO), True, None)


def test_libtest_expected_name_must_match_exactly():
    """``test tests::test_add_more`` is not ``test_add``, ``test tests::xtest_add`` neither."""
    for name in ("tests::test_add_more", "tests::xtest_add", "tests::test_ad"):
        out = f"\nrunning 1 test\ntest {name} ... ok\n\n" + summary()
        check(classify_run(run(0, stdout=out), LIB), False, "tampering")
    for name in ("test_add", "a::b::test_add"):
        out = f"\nrunning 1 test\ntest {name} ... ok\n\n" + summary()
        check(classify_run(run(0, stdout=out), LIB), True, None)


def test_libtest_summary_with_failures_despite_rc0():
    out = "\nrunning 1 test\ntest tests::test_add ... ok\n\n" + summary("ok", 1, 1)
    v = check(classify_run(run(0, stdout=out), LIB), False, "tampering")
    assert v["passed"] is False


def test_libtest_signal():
    check(classify_run(run(None, signal.SIGSEGV, stdout="running 1 test\n"), LIB), False, "runtime_error",
          "failed: killed by SIGSEGV")
    err = "\nthread 'tests::test_add' has overflowed its stack\nfatal runtime error: stack overflow\n"
    v = check(classify_run(run(None, signal.SIGABRT, stdout="running 1 test\n", stderr=err), LIB), False,
              "runtime_error", "failed: killed by SIGABRT (stack overflow)")
    assert v["signal"] == signal.SIGABRT and v["exit_code"] is None


# ---------------------------------------------------------------- classify_run: both styles


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_tamper_exit(prog):
    err = "some output\n\n" + TAMPER_MESSAGE + "\n"
    check(classify_run(run(TAMPER_EXIT, stdout=OK_OUT, stderr=err), prog), False, "tampering",
          "failed: the program exited with status 0 before its tests/main finished")


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_exit_86_without_message_is_not_tampering(prog):
    v = check(classify_run(run(TAMPER_EXIT), prog), False, "runtime_error")
    assert "86" in v["result"]


def test_tamper_message_with_other_status_is_not_tampering():
    check(classify_run(run(0, stderr=TAMPER_MESSAGE), MAIN), True, None)
    check(classify_run(run(1, stderr=TAMPER_MESSAGE), MAIN), False, "runtime_error", "failed: exit status 1")


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
@pytest.mark.parametrize("r", [
    run(None, signal.SIGABRT, stderr="memory allocation of 17179869184 bytes failed\n"),
    run(134, stderr="memory allocation of 400 bytes failed\nAborted\n"),
    run(None, signal.SIGKILL, stderr="out of memory\n"),
], ids=["alloc-abort", "alloc-rc", "sigkill-memory"])
def test_memory_limit(prog, r):
    check(classify_run(r, prog), False, "memory_limit", "failed: memory limit exceeded")


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_memory_message_in_a_clean_exit_is_not_a_memory_limit(prog):
    """A process that exited 0 by itself (tests all passed) did not die of an allocation failure, whatever
    its stderr says (here a line the program logged, e.g. about a failed try_reserve it handled)."""
    err = "warn: memory allocation of 1024 bytes failed, falling back to a smaller buffer\n"
    check(classify_run(run(0, stdout=OK_OUT, stderr=err), prog), True, None, "passed")


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_sigkill_without_memory_message(prog):
    check(classify_run(run(None, signal.SIGKILL), prog), False, "runtime_error", "failed: killed by SIGKILL")


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_output_limit(prog):
    r = run(None, signal.SIGKILL, stdout="y" * 100, stderr="e" * 10, out_exceeded=True,
            stdout_bytes=9_000_000, stderr_bytes=10)
    v = check(classify_run(r, prog), False, "output_limit", "failed: output limit exceeded (9000010 bytes)")
    assert v["stdout_truncated"] is True and "stderr_truncated" not in v


def test_output_limit_wins_over_timeout():
    r = run(None, signal.SIGKILL, out_exceeded=True, timed_out=True, stdout_bytes=5, stderr_bytes=6)
    check(classify_run(r, LIB), False, "output_limit", "failed: output limit exceeded (11 bytes)")


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_timeout(prog):
    v = check(classify_run(run(None, signal.SIGKILL, stdout="running 1 test\n", timed_out=True), prog), False,
              "timeout", "timed out")
    assert v["compile_ok"] is True and v["stdout"] == "running 1 test\n"


@pytest.mark.parametrize("prog", [LIB, MAIN], ids=["libtest", "main"])
def test_runner_error_is_infra(prog):
    v = check(classify_run({"error": "cannot start main: [Errno 13] Permission denied", "duration": 0}, prog),
              False, "infra_error", compile_ok=False)
    assert "Permission denied" in v["result"] and v["stderr"] == "cannot start main: [Errno 13] Permission denied"


def test_truncation_flags():
    r = run(0, stdout=OK_OUT, stderr="tail", stdout_bytes=len(OK_OUT), stderr_bytes=10_000)
    v = classify_run(r, LIB)
    assert v["stderr_truncated"] is True and "stdout_truncated" not in v
    assert v["passed"] is True  # truncation alone is no failure
    v2 = classify_run(run(0, stdout="é"), MAIN)  # bytes, not characters, are compared
    assert "stdout_truncated" not in v2


# ---------------------------------------------------------------- classify_run: main style


def test_main_pass():
    v = check(classify_run(run(0, stdout="whatever\n"), MAIN), True, None, "passed")
    assert v["exit_code"] == 0


def test_main_panic_101():
    check(classify_run(run(101, stderr=MAIN_PANIC_ERR), MAIN), False, "test_failure",
          "failed: assertion `left == right` failed")
    old = "thread 'main' panicked at 'assertion failed: x', main.rs:5:5\n"  # rustc < 1.73's format
    v = check(classify_run(run(101, stderr=old), MAIN), False, "test_failure")
    assert v["result"].startswith("failed:")


def test_main_101_without_panic():
    check(classify_run(run(101), MAIN), False, "runtime_error", "failed: exit status 101")


@pytest.mark.parametrize("rc", [1, 2, 255])
def test_main_nonzero(rc):
    v = check(classify_run(run(rc), MAIN), False, "runtime_error", f"failed: exit status {rc}")
    assert v["exit_code"] == rc


def test_main_signal():
    check(classify_run(run(None, signal.SIGSEGV), MAIN), False, "runtime_error", "failed: killed by SIGSEGV")
    err = "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n"
    check(classify_run(run(None, signal.SIGABRT, stderr=err), MAIN), False, "runtime_error",
          "failed: killed by SIGABRT (stack overflow)")
    check(classify_run(run(None, 100), MAIN), False, "runtime_error", "failed: killed by signal 100")


def test_main_does_not_need_a_libtest_summary():
    check(classify_run(run(0, stdout=""), MAIN), True, None)
    check(classify_run(run(101, stdout=OK_OUT, stderr=MAIN_PANIC_ERR), MAIN), False, "test_failure")


# ---------------------------------------------------------------- verdict helpers


def test_verdict_and_infra_verdict():
    assert verdict(True, None, "passed", True, x=1) == {"passed": True, "result": "passed", "error_type": None,
                                                        "compile_ok": True, "x": 1}
    iv = infra_verdict("boom")
    assert iv == {"passed": False, "result": "infra error: boom", "error_type": "infra_error", "compile_ok": False,
                  "stdout": "", "stderr": "boom"}


# ---------------------------------------------------------------- sandbox.py (pure parts)


def test_get_sandbox_bogus():
    with pytest.raises(SetupError) as ei:
        get_sandbox("bogus")
    msg = str(ei.value)
    assert "'bogus'" in msg and "--heval-sandbox" in msg
    for k in KINDS:
        assert k in msg


def test_get_sandbox_none():
    sb = get_sandbox("none")
    assert isinstance(sb, NoSandbox) and sb.kind == "none"
    assert sb.available() is None and sb.binds_toolchain is False
    assert sb.wrap(["python3", "x"], "/w", "/s") == ["python3", "x"]


@pytest.fixture
def tree(tmp_path):
    top = tmp_path.resolve() / "top"
    for d in ("a/b/c", "a/bc", "a/x", "y/z"):
        (top / d).mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("")
    (top / "a" / "file").write_text("")
    (top / "g").write_text("")
    os.symlink(top / "a", top / "link")
    return top


def test_hidden_paths_keeps_the_way_to_kept_paths(tree):
    hidden = hidden_paths([str(tree / "a" / "b")], top=str(tree))
    assert sorted(hidden) == sorted(str(tree / p) for p in ("a/bc", "a/file", "a/x", "g", "link", "y"))
    assert str(tree / "a") not in hidden and str(tree / "a" / "b") not in hidden
    assert not any(h.startswith(str(tree / "a" / "b") + "/") for h in hidden)  # kept whole


def test_hidden_paths_keep_through_symlink_and_several(tree):
    hidden = hidden_paths([str(tree / "link" / "x"), str(tree / "y" / "z")], top=str(tree))
    assert sorted(hidden) == sorted(str(tree / p) for p in ("a/b", "a/bc", "a/file", "g", "link"))


def test_hidden_paths_nothing_kept(tree):
    assert sorted(hidden_paths([], top=str(tree))) == sorted(str(tree / p) for p in ("a", "g", "link", "y"))
    assert hidden_paths([str(tree)], top=str(tree)) == []


def test_hidden_paths_root_spares_system_dirs():
    hidden = hidden_paths([], top="/")
    assert hidden == sorted(hidden)
    for d in SYSTEM_DIRS:
        assert "/" + d not in hidden
    expected = sorted("/" + n for n in os.listdir("/") if n not in SYSTEM_DIRS)
    assert hidden == expected
