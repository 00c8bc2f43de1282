"""Comparing runs: a paired test between two checkpoints, and side-by-side tables for several models.

No harness we know of offers a paired comparison, yet two checkpoints graded on the same problems differ far less
than two unrelated pass@1 figures suggest: pairing by problem removes the problems' own difficulty from the noise.

* pass rate of a problem = c / n over its judged samples (the pass@1 estimate); infra_error rows are left out,
  as in ``metrics.compute``.
* change in pass@1 = mean over the shared problems of (new rate - old rate), with a percentile confidence interval
  from a paired bootstrap over problems (``random.Random(seed)``: reproducible).
* "solved -> unsolved and back", generalised to n > 1: a problem *got worse* when its pass rate went down, *got better*
  when it went up; problems whose rate did not change carry no information about the direction and are left out.
  The p-value is the exact two-sided sign test (binomial, p = 1/2) on worse vs better. With one sample per problem
  the rates are 0 or 1, so worse/better are exactly the solved->unsolved / unsolved->solved problems and the test is
  exactly McNemar's exact test. A threshold on the rate ("solved" = rate >= 0.5, or "any sample passed") was not
  chosen: it throws away changes that stay on one side of the threshold and makes the verdict depend on n.

No pytest import: the plugin, the CLI and the HTML report all use this module.
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .errors import InputError
from .inputs.jsonl import iter_jsonl
from .metrics import compute

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
DEFAULT_ALPHA = 0.05

Rows = Iterable[Mapping[str, Any]]


# ---------------------------------------------------------------- reading rows


def _check_row(row: Any, source: str, line: int) -> None:
    if not isinstance(row, dict):
        raise InputError(source, f"a result row must be a JSON object, got {type(row).__name__}", line=line)
    tid = row.get("task_id")
    if not isinstance(tid, str) or not tid:
        raise InputError(source, f"missing or not a non-empty string: {tid!r}", line=line, field="task_id")
    if not isinstance(row.get("passed"), bool):
        raise InputError(source, f"missing or not a boolean: {row.get('passed')!r}", line=line, field="passed")
    et = row.get("error_type")
    if et is not None and not isinstance(et, str):
        raise InputError(source, f"not a string or null: {et!r}", line=line, field="error_type")


def load_results(path: str) -> List[Dict[str, Any]]:
    """The rows of a ``*_results.jsonl`` file, checked (errors name file, line and field)."""
    rows = []
    for lineno, row in iter_jsonl(path):
        _check_row(row, path, lineno)
        rows.append(row)
    return rows


def tally(rows: Rows, source: str = "<rows>") -> Dict[str, Tuple[int, int]]:
    """task_id -> (n judged samples, c passed); infra_error rows are the harness's fault and are not counted."""
    out: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for i, r in enumerate(rows, start=1):
        _check_row(r, source, i)
        if r.get("error_type") == "infra_error":
            continue
        t = out[r["task_id"]]
        t[0] += 1
        t[1] += r["passed"]
    return {tid: (n, c) for tid, (n, c) in out.items()}


def task_key(task_id: str) -> tuple:
    """Natural order: ``HumanEval/9`` before ``HumanEval/10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", task_id) if p)


# ---------------------------------------------------------------- statistics


def sign_test_p(worse: int, better: int) -> float:
    """Exact two-sided binomial test of worse vs better at p = 1/2 (McNemar's exact test on discordant pairs).

    p = P(X <= min) + P(X >= max) for X ~ Bin(worse + better, 1/2), capped at 1; exact integer arithmetic.
    """
    m = worse + better
    if m == 0:
        return 1.0
    lo = min(worse, better)
    tail = sum(math.comb(m, i) for i in range(lo + 1))
    return min(1.0, 2 * tail / 2 ** m)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, Hyndman-Fan type 7)."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def bootstrap_means(diffs: Sequence[float], resamples: int, seed: int) -> List[float]:
    """Sorted means of ``resamples`` resamples (with replacement, same size) of ``diffs``.

    Each resample draws len(diffs) problems with ``random.Random(seed).choices`` (one ``random()`` per draw,
    index = floor(random() * len)): ~2 s for 3,000 problems x 10,000 resamples on one core, pure Python.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(diffs)
    if n == 0:
        return []
    rng = random.Random(seed)
    choices = rng.choices
    population = list(diffs)
    return sorted(sum(choices(population, k=n)) / n for _ in range(resamples))


# ---------------------------------------------------------------- the paired comparison


@dataclass
class ProblemChange:
    task_id: str
    old_n: int
    old_c: int
    new_n: int
    new_c: int

    @property
    def old_rate(self) -> float:
        return self.old_c / self.old_n

    @property
    def new_rate(self) -> float:
        return self.new_c / self.new_n

    def to_dict(self) -> Dict[str, Any]:
        return {"task_id": self.task_id, "old": [self.old_c, self.old_n], "new": [self.new_c, self.new_n],
                "old_rate": self.old_rate, "new_rate": self.new_rate}


@dataclass
class Comparison:
    """The paired comparison of two runs on the problems both judged. Build it with :func:`compare`."""

    old_label: str
    new_label: str
    shared: int
    only_old: List[str]
    only_new: List[str]
    old_pass1: Optional[float]  # mean pass rate over the shared problems only
    new_pass1: Optional[float]
    delta: Optional[float]  # new - old
    worse: List[ProblemChange]  # pass rate went down (n = 1: solved -> unsolved)
    better: List[ProblemChange]  # pass rate went up (n = 1: unsolved -> solved)
    unchanged: int
    p_value: float  # exact two-sided sign test on len(worse) vs len(better)
    resamples: int
    seed: int
    confidence: float = 0.95
    _boot: List[float] = field(default_factory=list, repr=False)

    def ci(self, confidence: Optional[float] = None) -> Optional[Tuple[float, float]]:
        """Percentile bootstrap interval of the change in pass@1 (None with no shared problems)."""
        if not self._boot:
            return None
        c = self.confidence if confidence is None else confidence
        if not 0 < c < 1:
            raise ValueError(f"confidence must be in (0, 1), got {c}")
        a = (1 - c) / 2
        return quantile(self._boot, a), quantile(self._boot, 1 - a)

    def regressed(self, alpha: float = DEFAULT_ALPHA) -> bool:
        """True only for a regression significant at ``alpha`` by both tests.

        pass@1 went down, more problems got worse than better, the exact sign test gives p < alpha, and the
        (1 - alpha) bootstrap interval lies wholly below 0. Requiring both keeps a CI gate from failing on noise:
        the sign test is exact but ignores sizes, the bootstrap sees sizes but is approximate for few problems.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if self.delta is None or self.delta >= 0 or len(self.worse) <= len(self.better):
            return False
        interval = self.ci(1 - alpha)
        return self.p_value < alpha and interval is not None and interval[1] < 0

    def to_dict(self, alpha: float = DEFAULT_ALPHA) -> Dict[str, Any]:
        ci = self.ci()
        return {
            "old": self.old_label, "new": self.new_label, "shared_problems": self.shared,
            "only_old": self.only_old, "only_new": self.only_new,
            "old_pass@1": self.old_pass1, "new_pass@1": self.new_pass1, "delta_pass@1": self.delta,
            "ci": {"confidence": self.confidence, "low": ci[0], "high": ci[1]} if ci else None,
            "bootstrap": {"resamples": self.resamples, "seed": self.seed},
            "worse": [p.to_dict() for p in self.worse], "better": [p.to_dict() for p in self.better],
            "unchanged": self.unchanged,
            "sign_test_p": self.p_value, "alpha": alpha, "regressed": self.regressed(alpha),
        }

    def lines(self, alpha: float = DEFAULT_ALPHA, limit: int = 20) -> List[str]:
        """The terminal text: figures first, then up to ``limit`` problems each way."""
        out = [f"paired comparison: {self.new_label} vs {self.old_label} on {self.shared} shared problem(s)"]
        if self.only_old or self.only_new:
            out.append(f"  not compared: {len(self.only_old)} problem(s) only in {self.old_label}, "
                       f"{len(self.only_new)} only in {self.new_label}")
        if not self.shared:
            out.append("  no shared problems: nothing to compare")
            return out
        ci = self.ci()
        out.append(f"  pass@1 {self.old_pass1:.4f} -> {self.new_pass1:.4f}   change {self.delta:+.4f}   "
                   f"{self.confidence:.0%} CI [{ci[0]:+.4f}, {ci[1]:+.4f}] (paired bootstrap, "
                   f"{self.resamples} resamples, seed {self.seed})")
        out.append(f"  worse: {len(self.worse)}   better: {len(self.better)}   unchanged: {self.unchanged}   "
                   f"exact sign test p = {self.p_value:.4g}")
        verdict = "REGRESSED" if self.regressed(alpha) else "no significant regression"
        out.append(f"  {verdict} at alpha = {alpha}")
        for name, items in (("worse", self.worse), ("better", self.better)):
            for p in items[:limit]:
                out.append(f"    {name}: {p.task_id}  {p.old_c}/{p.old_n} -> {p.new_c}/{p.new_n}")
            if len(items) > limit:
                out.append(f"    ... {len(items) - limit} more {name} (all of them in the metrics JSON)")
        return out


def compare(old_rows: Rows, new_rows: Rows, *, old_label: str = "old", new_label: str = "new",
            resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, confidence: float = 0.95) -> Comparison:
    """Pair two runs by problem (task_id) and compare them on the problems both judged."""
    old = tally(old_rows, old_label)
    new = tally(new_rows, new_label)
    shared = sorted(old.keys() & new.keys(), key=task_key)
    changes = [ProblemChange(t, *old[t], *new[t]) for t in shared]
    # compare rates exactly (c1 * n2 vs c2 * n1), not as floats
    worse = [p for p in changes if p.new_c * p.old_n < p.old_c * p.new_n]
    better = [p for p in changes if p.new_c * p.old_n > p.old_c * p.new_n]
    diffs = [p.new_rate - p.old_rate for p in changes]
    old_p = sum(p.old_rate for p in changes) / len(changes) if changes else None
    new_p = sum(p.new_rate for p in changes) / len(changes) if changes else None
    return Comparison(
        old_label=old_label, new_label=new_label, shared=len(shared),
        only_old=sorted(old.keys() - new.keys(), key=task_key), only_new=sorted(new.keys() - old.keys(), key=task_key),
        old_pass1=old_p, new_pass1=new_p,
        delta=(sum(diffs) / len(diffs)) if diffs else None,
        worse=sorted(worse, key=lambda p: (p.new_rate - p.old_rate, task_key(p.task_id))),
        better=sorted(better, key=lambda p: (p.old_rate - p.new_rate, task_key(p.task_id))),
        unchanged=len(changes) - len(worse) - len(better),
        p_value=sign_test_p(len(worse), len(better)),
        resamples=resamples, seed=seed, confidence=confidence,
        _boot=bootstrap_means(diffs, resamples, seed),
    )


# ---------------------------------------------------------------- several models side by side


def side_by_side(models: Mapping[str, Sequence[Mapping[str, Any]]], ks: Sequence[int]) -> Dict[str, Any]:
    """One entry per model: pass@k, compile rate, counts and error counts (``metrics.compute``), as plain data."""
    entries = []
    error_types: set = set()
    for label, rows in models.items():
        tally(rows, label)  # checks the rows, naming the model
        m = compute(rows, ks)
        error_types.update(m["error_counts"])
        entries.append({"model": label, **{f"pass@{k}": m[f"pass@{k}"] for k in ks},
                        "compile_rate": m["compile_rate"], "samples": m["samples"], "problems": m["problems"],
                        "infra_errors": m["infra_errors"], "error_counts": m["error_counts"]})
    order = sorted(error_types - {"passed"})
    return {"ks": list(ks), "error_types": (["passed"] if "passed" in error_types else []) + order,
            "models": entries}


def per_problem_table(models: Mapping[str, Sequence[Mapping[str, Any]]]) -> Dict[str, Any]:
    """Problem x model: for every problem any model judged, each model's [passed, judged] (None when it has none)."""
    tallies = {label: tally(rows, label) for label, rows in models.items()}
    tasks = sorted(set().union(*[t.keys() for t in tallies.values()]) if tallies else set(), key=task_key)
    problems = []
    for tid in tasks:
        cells = [list(tallies[label][tid]) if tid in tallies[label] else None for label in tallies]
        problems.append({"task_id": tid,
                         "passed": [c[1] if c else None for c in cells],
                         "judged": [c[0] if c else None for c in cells],
                         "pass_rate": [c[1] / c[0] if c else None for c in cells]})
    return {"models": list(tallies), "problems": problems}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if v is None:
        return "n/a"
    return str(v).replace("n/a (n < k)", "n/a(n<k)").replace("n/a (no samples)", "n/a")


def _table(header: List[str], body: List[List[str]]) -> List[str]:
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body]


def side_by_side_lines(table: Dict[str, Any]) -> List[str]:
    """The side-by-side table as fixed-width terminal lines (one row per model)."""
    ks = table["ks"]
    header = ["model"] + [f"pass@{k}" for k in ks] + ["compile", "samples", "problems"] + table["error_types"]
    body = [[e["model"]] + [_fmt(e[f"pass@{k}"]) for k in ks]
            + [_fmt(e["compile_rate"]), str(e["samples"]), str(e["problems"])]
            + [str(e["error_counts"].get(t, 0)) for t in table["error_types"]] for e in table["models"]]
    return _table(header, body)


def per_problem_lines(table: Dict[str, Any]) -> List[str]:
    """The per-problem table as terminal lines: ``passed/judged`` per model, ``-`` where a model has no sample."""
    header = ["task_id"] + table["models"]
    body = [[p["task_id"]] + [f"{c}/{n}" if n is not None else "-" for c, n in zip(p["passed"], p["judged"])]
            for p in table["problems"]]
    return _table(header, body)
