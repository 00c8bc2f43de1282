"""Verdicts: the error types, and how a build's or a run's outcome becomes one.

A verdict is a plain dict (JSON-serialisable: it travels from xdist workers to the controller and is stored
in the verdict cache): ``passed``, ``result``, ``error_type``, ``compile_ok`` and details.
"""

from __future__ import annotations

import re
import signal as _signal
from typing import Any, Dict, Optional

from .program import PROOF_PREFIX, TAMPER_EXIT, TAMPER_MESSAGE, Program

ERROR_TYPES = (
    "compile_error",
    "compile_timeout",
    "test_failure",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "tampering",
    "policy",
    "infra_error",
)

Verdict = Dict[str, Any]

_SUMMARY = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed", re.M)


def verdict(passed: bool, error_type: Optional[str], result: str, compile_ok: bool, **extra: Any) -> Verdict:
    v = {"passed": passed, "result": result, "error_type": error_type, "compile_ok": compile_ok}
    v.update(extra)
    return v


def infra_verdict(message: str) -> Verdict:
    """The harness failed (sandbox, toolchain, an interrupted item...): not the model's fault."""
    return verdict(False, "infra_error", f"infra error: {message}", False, stdout="", stderr=message)


def policy_verdict(denied) -> Verdict:
    """The sample uses features the run denies (``--heval-deny``): judged a failure, never built."""
    names = ", ".join(sorted(denied))
    return verdict(False, "policy", f"failed: uses denied feature(s): {names}", False, stdout="", stderr="")


def _signame(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify_compile(c: Dict[str, Any]) -> Optional[Verdict]:
    """A verdict when the build (the runner's reply for rustc) did not succeed, else None."""
    if c.get("error"):
        return infra_verdict(c["error"])
    if c.get("timed_out"):
        return verdict(False, "compile_timeout", "failed: compile timed out", False,
                       stdout="", stderr=c.get("stderr", ""))
    if c.get("rc") == 0:
        return None
    stderr = c.get("stderr", "")
    if c.get("rc") == 127 or "linker `cc` not found" in stderr:
        return infra_verdict(f"the toolchain failed (exit {c.get('rc')}): {stderr[-400:]}")
    first = next((ln for ln in stderr.splitlines() if ln.startswith("error")), "compilation failed")
    if c.get("signal"):
        first = f"rustc killed by {_signame(c['signal'])}" + (" (memory limit?)" if c["signal"] == 6 else "")
    return verdict(False, "compile_error", f"failed: {first}", False, stdout="", stderr=stderr)


def classify_run(r: Dict[str, Any], program: Program) -> Verdict:
    """The verdict of a test run (the runner's reply; ``proof``: what the exit guard reported on its socket)."""
    out, err = r.get("stdout", ""), r.get("stderr", "")
    # libtest's "test <name> ... " lines, wherever they were in the stream (the tail may have lost them)
    test_lines = "\n".join(r.get("kept_lines") or ()) + "\n" + out
    # the guard's report that the harness-owned main returned 0 (see program.guard)
    proved = not program.proof or r.get("proof") == f"{PROOF_PREFIX}0\n"
    base = {"stdout": out, "stderr": err, "exit_code": r.get("rc"), "signal": r.get("signal")}
    for key in ("stdout", "stderr"):
        if r.get(f"{key}_bytes", 0) > len(r.get(key, "").encode()):
            base[f"{key}_truncated"] = True

    def v(passed, et, result):
        return verdict(passed, et, result, True, **base)

    if r.get("error"):
        return infra_verdict(r["error"])
    if r.get("out_exceeded"):
        return v(False, "output_limit", f"failed: output limit exceeded ({r.get('stdout_bytes', 0) + r.get('stderr_bytes', 0)} bytes)")
    if r.get("timed_out"):  # which limit ended it: CPU time of the process tree, or the wall-clock backstop
        which = r.get("limit") or "wall"
        secs = r.get("cpu_limit") if which == "cpu" else r.get("wall_limit")
        name = "CPU" if which == "cpu" else "wall clock"
        return dict(v(False, "timeout", f"timed out ({name} {secs:g} s)" if secs else "timed out"), limit=which)
    rc, sig = r.get("rc"), r.get("signal")
    if rc == TAMPER_EXIT and TAMPER_MESSAGE in err:
        return v(False, "tampering", "failed: the program exited with status 0 before its tests/main finished")
    abnormal = bool(sig) or rc not in (0, None)
    if abnormal and (re.search(r"memory allocation of \d+ bytes failed", err) or (sig == _signal.SIGKILL and "memory" in err)):
        return v(False, "memory_limit", "failed: memory limit exceeded")
    if program.style == "libtest":
        summaries = _SUMMARY.findall(out)
        if rc == 0 and summaries:
            status, n_pass, n_fail = summaries[-1][0], int(summaries[-1][1]), int(summaries[-1][2])
            missing = [t for t in program.expected_tests
                       if not re.search(rf"^test (?:\S+::)?{re.escape(t)} \.\.\. ", test_lines, re.M)]
            if status == "ok" and n_fail == 0 and n_pass >= 1 and not missing:
                if not proved:
                    return v(False, "tampering", "failed: the process did not end by returning from main "
                                                 "after its tests (no report from the exit guard: a raw exit, ...)")
                return v(True, None, "passed")
            if n_pass == 0:
                return v(False, "test_failure", "failed: no test ran")
            return v(False, "tampering", f"failed: expected tests did not run: {', '.join(missing)}")
        if summaries and summaries[-1][0] == "FAILED":
            m = re.search(r"panicked at [^\n]*\n([^\n]*)", out + "\n" + err)
            return v(False, "test_failure", f"failed: {m.group(1).strip() if m else 'test failed'}")
        if sig:
            why = " (stack overflow)" if "overflowed its stack" in err else ""
            return v(False, "runtime_error", f"failed: killed by {_signame(sig)}{why}")
        return v(False, "runtime_error", f"failed: exit status {rc} without a libtest summary")
    # main style
    if rc == 0 and not sig:
        if not proved:
            return v(False, "tampering", "failed: the program did not return from main "
                                         "(no report from the exit guard: a raw exit, ...)")
        return v(True, None, "passed")
    if sig:
        why = " (stack overflow)" if "overflowed its stack" in err else ""
        return v(False, "runtime_error", f"failed: killed by {_signame(sig)}{why}")
    if rc == 101 and "panicked at" in err:
        m = re.search(r"panicked at [^\n]*\n([^\n]*)", err)
        return v(False, "test_failure", f"failed: {m.group(1).strip() if m else 'panicked'}")
    return v(False, "runtime_error", f"failed: exit status {rc}")
