"""What a person reads in the terminal: the summary lines of a samples file, a failed sample's text, durations."""

from __future__ import annotations

from typing import Any, Dict, List


def fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "n/a" if value is None else str(value)


def fmt_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def summary_lines(path: str, metrics: Dict[str, Any], results_path: str, expected: int,
                  write_error: str = None) -> List[str]:
    lines = [f"samples file: {path}"]
    ks = [k for k in metrics if k.startswith("pass@")]
    lines.append("  " + "   ".join(f"{k}: {fmt_metric(metrics[k])}" for k in ks)
                 + f"   compile_rate: {fmt_metric(metrics.get('compile_rate'))}")
    lines.append(f"  problems: {metrics['problems']}   samples: {metrics['samples']}   passed: {metrics['passed']}"
                 f"   compiled: {metrics['compiled']}")
    counts = metrics.get("error_counts", {})
    lines.append("  outcomes: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    if metrics.get("clippy_checked"):
        top = ", ".join(f"{k}={v}" for k, v in metrics.get("clippy_lint_counts", {}).items())
        lines.append(f"  clippy_pass_rate: {fmt_metric(metrics.get('clippy_pass_rate'))} "
                     f"(of {metrics['clippy_checked']} compiled)   top lints: {top or 'none'}")
    if "main_free_rate" in metrics:
        size, ms = metrics.get("avg_binary_size_bytes"), metrics.get("avg_compile_time_ms")
        lines.append(f"  main_free_rate: {fmt_metric(metrics.get('main_free_rate'))}"
                     f"   avg_compile_time_ms: {'n/a' if ms is None else f'{ms:.1f}'}"
                     f"   avg_binary_size_bytes: {'n/a' if size is None else f'{size:.1f}'}"
                     + (f" (of {metrics.get('binary_size_samples')} built alone)" if size is not None else
                        " (no binary of its own: batched)"))
    if metrics.get("infra_errors"):
        lines.append(f"  WARNING: {metrics['infra_errors']} infra_error sample(s): the harness failed, not the model; "
                     "they are excluded from pass@k and compile_rate")
    rows = metrics["samples"]
    status = "complete" if rows == expected else "INCOMPLETE"
    if write_error:
        status = f"NOT SAVED: {write_error}"
    lines.append(f"  results: {results_path}   ({rows} rows for {expected} samples: {status})")
    return lines


def failure_text(v: Dict[str, Any]) -> str:
    text = f"[{v.get('error_type')}] {v.get('result')}"
    stderr = (v.get("stderr") or "").strip()
    stdout = (v.get("stdout") or "").strip()
    if stderr:
        text += "\n--- stderr (tail) ---\n" + stderr[-2000:]
    if stdout and v.get("error_type") not in ("compile_error",):
        text += "\n--- stdout (tail) ---\n" + stdout[-1500:]
    return text
