"""Comparing runs at the end of a grading run or from results files: labels, the side-by-side and per-problem
tables, the paired comparison against an old run, its gate, and the HTML page.

One code path for both clients: the pytest controller (``--heval-compare-to``, ``--heval-html``...) and
``python -m pytest_heval report``. No pytest import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..compare import (DEFAULT_ALPHA, DEFAULT_RESAMPLES, DEFAULT_SEED, Comparison, compare, load_results,
                       per_problem_lines, per_problem_table, side_by_side, side_by_side_lines, tally, task_key)
from ..errors import HevalError
from ..fsutil import atomic_write
from .html import render

RESULTS_SUFFIX = "_results.jsonl"


def labels(paths: Sequence[str]) -> List[str]:
    """The shortest path suffixes (same number of trailing components for all) that tell the files apart.

    ``ckpt1/samples.jsonl`` and ``ckpt2/samples.jsonl`` -> those two; a results file is named after its samples file
    (``x.jsonl_results.jsonl`` -> ``x.jsonl``). The same path twice gets `` (2)``, `` (3)``... appended.
    """
    names = [os.path.normpath(os.path.abspath(p)) for p in paths]
    names = [n[:-len(RESULTS_SUFFIX)] if n.endswith(RESULTS_SUFFIX) else n for n in names]
    parts = [n.split(os.sep) for n in names]
    longest = max((len(p) for p in parts), default=1)
    depth = 1
    while depth < longest and len({"/".join(p[-depth:]) for p in parts}) < len(set(names)):
        depth += 1
    out: List[str] = []
    for p in parts:
        label = "/".join(p[-depth:]).lstrip("/") or "/"
        base, n = label, 1
        while label in out:
            n += 1
            label = f"{base} ({n})"
        out.append(label)
    return out


@dataclass
class CheckpointOptions:
    """What the user asked for beyond the per-file metrics (all off by default)."""

    compare_to: Optional[str] = None  # an old run's results file
    fail_if_regressed: bool = False
    alpha: float = DEFAULT_ALPHA
    per_problem: bool = False
    html: Optional[str] = None
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    old_rows: Optional[List[Dict[str, Any]]] = field(default=None, repr=False)

    def check(self, what: str = "--heval") -> None:
        """Raise HevalError for a bad combination or value; load the old run's rows (errors name file and line)."""
        if not 0 < self.alpha < 1:
            raise HevalError(f"{what}-alpha: must be between 0 and 1 (exclusive), got {self.alpha}")
        if self.resamples < 1:
            raise HevalError(f"{what}-resamples: must be >= 1, got {self.resamples}")
        if self.fail_if_regressed and not self.compare_to:
            raise HevalError(f"{what}-fail-if-regressed needs {what}-compare-to OLD_results.jsonl")
        if self.compare_to and self.old_rows is None:
            if not os.path.isfile(self.compare_to):
                raise HevalError(f"{what}-compare-to: {self.compare_to}: no such file")
            self.old_rows = load_results(self.compare_to)
        if self.html:
            d = os.path.dirname(os.path.abspath(self.html))
            if not os.path.isdir(d):
                raise HevalError(f"{what}-html: {self.html}: directory {d} does not exist")


@dataclass
class CheckpointReport:
    lines: List[str]  # terminal text
    per_file: Dict[str, Dict[str, Any]]  # path -> keys to add to that file's metrics JSON
    comparisons: Dict[str, Comparison]  # path -> comparison with the old run
    gate: List[str]  # one line per comparison when --fail-if-regressed: "regression gate ok/FAILED: ..."
    gate_ok: Optional[bool]  # None: no regression gate asked for
    html_error: Optional[str] = None


def build(rows_by_path: Mapping[str, Sequence[Mapping[str, Any]]], ks: Sequence[int],
          opts: CheckpointOptions, table: Optional[bool] = None,
          label_of: Optional[Mapping[str, str]] = None) -> CheckpointReport:
    """Everything beyond the per-file metrics, from each graded file's rows (``opts`` already checked).

    ``table``: print the side-by-side table (default: when there are several files; the plugin's own summary
    already has one file's figures). ``label_of``: path -> label (default: :func:`labels`)."""
    paths = list(rows_by_path)
    all_labels = labels(paths + ([opts.compare_to] if opts.compare_to else []))
    old_label = all_labels.pop() if opts.compare_to else None
    if old_label is not None and old_label.endswith(")") and old_label.rsplit(" (", 1)[0] in all_labels:
        old_label = old_label.rsplit(" (", 1)[0] + " (old)"  # the old run's results file is the one being rewritten
    label_of = dict(label_of) if label_of else dict(zip(paths, all_labels))
    models = {label_of[p]: rows_by_path[p] for p in paths}
    lines: List[str] = []
    per_file: Dict[str, Dict[str, Any]] = {}
    for p in paths:
        t = tally(rows_by_path[p], p)
        per_file[p] = {"per_problem": {tid: {"passed": c, "judged": n}
                                       for tid, (n, c) in sorted(t.items(), key=lambda kv: task_key(kv[0]))}}
    if table or (table is None and len(paths) > 1):
        lines += ["side by side:"] + ["  " + line for line in side_by_side_lines(side_by_side(models, ks))]
    if opts.per_problem:
        lines += ["per problem (passed/judged):"] + ["  " + line for line in per_problem_lines(per_problem_table(models))]
    comparisons: Dict[str, Comparison] = {}
    gate: List[str] = []
    gate_ok: Optional[bool] = True if opts.fail_if_regressed else None
    if opts.compare_to:
        for p in paths:
            c = compare(opts.old_rows, rows_by_path[p], old_label=old_label, new_label=label_of[p],
                        resamples=opts.resamples, seed=opts.seed)
            comparisons[p] = c
            per_file[p]["comparison"] = {"old_results_file": os.path.abspath(opts.compare_to), **c.to_dict(opts.alpha)}
            lines += c.lines(opts.alpha)
            if opts.fail_if_regressed:
                bad = c.regressed(opts.alpha)
                gate_ok = gate_ok and not bad
                figures = (f"change in pass@1 {c.delta:+.4f}, sign test p = {c.p_value:.4g}" if c.shared
                           else "no shared problems")
                gate.append(f"regression gate {'FAILED' if bad else 'ok'}: {label_of[p]} vs {old_label}: {figures}"
                            f" (alpha {opts.alpha})")
    report = CheckpointReport(lines, per_file, comparisons, gate, gate_ok)
    if opts.html:
        html_models = ({old_label: opts.old_rows} if opts.compare_to else {}) | models
        page = render(html_models, list(comparisons.values()) or None, ks=ks, alpha=opts.alpha)
        try:
            atomic_write(opts.html, page.encode("utf-8"))
            lines.append(f"HTML report: {opts.html}")
        except OSError as e:
            report.html_error = f"cannot write the HTML report {opts.html}: {e.strerror or e}"
    return report


def read_results(paths: Sequence[str]) -> Dict[str, List[Dict[str, Any]]]:
    """Results files by path, each checked (``HevalError`` names file, line and field)."""
    out = {}
    for p in paths:
        if not os.path.isfile(p):
            raise HevalError(f"{p}: no such results file")
        out[p] = load_results(p)
    return out
