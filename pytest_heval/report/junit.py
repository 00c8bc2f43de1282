"""The JUnit XML suite properties of a samples file's metrics."""

from __future__ import annotations

from typing import Any, Dict

from .terminal import fmt_metric


def junit_suite_properties(metrics: Dict[str, Any]) -> Dict[str, str]:
    props = {f"heval_{k}": fmt_metric(v) for k, v in metrics.items() if k.startswith("pass@")}
    props["heval_compile_rate"] = fmt_metric(metrics.get("compile_rate"))
    if metrics.get("clippy_checked"):
        props["heval_clippy_pass_rate"] = fmt_metric(metrics.get("clippy_pass_rate"))
    return props
