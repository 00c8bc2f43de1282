"""What a person reads in the terminal: the summary lines of a samples file, a failed sample's text, durations."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple


def fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "n/a" if value is None else str(value)


def fmt_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def summary_lines(metrics: Dict[str, Any], write_error: Optional[str] = None) -> List[str]:
    """The summary of one samples file's metrics (as the metrics file holds them)."""
    m = metrics
    lines = [f"{m['label']}: {m['samples_file']}"]
    ks = [k for k in m if k.startswith("pass@")]
    lines.append("  " + "   ".join(f"{k}: {fmt_metric(m[k])}" for k in ks)
                 + f"   compile_rate: {fmt_metric(m.get('compile_rate'))}")
    lines.append(f"  problems: {m['problems']}   samples: {m['samples']}   passed: {m['passed']}"
                 f"   compiled: {m['compiled']}")
    lines.append("  outcomes: " + ", ".join(f"{k}={v}" for k, v in m.get("error_counts", {}).items()))
    forms = m.get("completion_forms")
    if forms:
        lines.append(f"  completion forms ({m.get('completion_form')}): " + ", ".join(f"{k}={v}" for k, v in forms.items()))
    feats = m.get("feature_counts")
    if feats:
        lines.append("  features (samples): " + ", ".join(f"{k}={v}" for k, v in feats.items()))
    if m.get("clippy_checked"):
        top = ", ".join(f"{k}={v}" for k, v in m.get("clippy_lint_counts", {}).items())
        lines.append(f"  clippy_pass_rate: {fmt_metric(m.get('clippy_pass_rate'))} "
                     f"(of {m['clippy_checked']} compiled)   top lints: {top or 'none'}")
    if "main_free_rate" in m:
        size, ms = m.get("avg_binary_size_bytes"), m.get("avg_compile_time_ms")
        lines.append(f"  main_free_rate: {fmt_metric(m.get('main_free_rate'))}"
                     f"   avg_compile_time_ms: {'n/a' if ms is None else f'{ms:.1f}'}"
                     f"   avg_binary_size_bytes: {'n/a' if size is None else f'{size:.1f}'}"
                     + (f" (of {m.get('binary_size_samples')} built alone)" if size is not None else
                        " (no binary of its own: batched)"))
    if m.get("infra_errors"):
        lines.append(f"  WARNING: {m['infra_errors']} infra_error sample(s): the harness failed, not the model; "
                     "they are excluded from pass@k and compile_rate")
    status = "complete" if m["complete"] else "INCOMPLETE"
    if write_error:
        status = f"NOT SAVED: {write_error}"
    shard = m.get("shard")
    of = f" of shard {shard['index']}/{shard['count']} ({shard['samples_total']} in the file)" if shard else ""
    lines.append(f"  results: {m['results_file']}   ({m['samples']} rows for {m['expected_samples']} samples{of}: {status}; "
                 f"{m['missing']} missing, {m['graded_this_run']} graded by this run, {m['graded_twice']} graded twice)")
    return lines


FAILED_NAMES = 5  # failed samples named per error type in the summary


def failed_lines(failed: Dict[str, Tuple[int, List[str]]]) -> List[str]:
    """Failed samples grouped by error type, the most frequent first: error type -> (count, the first names)."""
    out = []
    for et, (n, names) in sorted(failed.items(), key=lambda kv: (-kv[1][0], kv[0])):
        more = f" (+{n - len(names)} more)" if n > len(names) else ""
        out.append(f"{et} ({n}): {', '.join(names)}{more}")
    return out


def progress_line(done: int, total: int, elapsed: float, bar: bool = False, final: bool = False) -> str:
    """``[heval] done/total samples, N/min, ETA``; the ETA only once it means something (30 s and 2% in)."""
    rate = done / elapsed * 60 if elapsed > 0 else 0.0
    if final:
        eta = f"done in {fmt_duration(elapsed)}"
    elif elapsed >= 30 and done >= max(1, total // 50) and rate > 0:
        eta = f"ETA {fmt_duration((total - done) / rate * 60)}"
    else:
        eta = "ETA: estimating"
    head = "[heval] "
    if bar and total:
        filled = int(30 * done / total)
        head += "[" + "#" * filled + "." * (30 - filled) + "] "
    return f"{head}{done}/{total} samples, {rate:,.0f}/min, {eta}"


def failure_text(v: Dict[str, Any]) -> str:
    text = f"[{v.get('error_type')}] {v.get('result')}"
    stderr = (v.get("stderr") or "").strip()
    stdout = (v.get("stdout") or "").strip()
    if stderr:
        text += "\n--- stderr (tail) ---\n" + stderr[-2000:]
    if stdout and v.get("error_type") not in ("compile_error",):
        text += "\n--- stdout (tail) ---\n" + stdout[-1500:]
    return text
