"""``python -m pytest_heval report RESULTS... [--html out.html] [--compare-to OLD]``: what ``pytest --heval``
prints and writes about several runs, made from results files (after a merge, or from old runs)."""

from __future__ import annotations

import argparse

from ..compare import DEFAULT_ALPHA, DEFAULT_RESAMPLES, DEFAULT_SEED
from ..errors import HevalError
from ..metrics import DEFAULT_K, parse_ks
from .checkpoints import CheckpointOptions, build, read_results

HELP = "side-by-side table, paired comparison and HTML report from *_results.jsonl files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files (<samples>_results.jsonl)")
    p.add_argument("--html", metavar="PATH", help="write one self-contained HTML report")
    p.add_argument("--compare-to", metavar="OLD_RESULTS", help="paired comparison of each RESULTS with this run")
    p.add_argument("--fail-if-regressed", action="store_true", help="exit 1 iff a run is significantly worse")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="significance level (default 0.05)")
    p.add_argument("--per-problem", action="store_true", help="print the problem x run table of passed/judged")
    p.add_argument("--k", default=",".join(map(str, DEFAULT_K)), help="the k of pass@k (default 1,10,100)")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed (default 0)")


def add_command(subparsers) -> None:
    """Register ``report`` (see :mod:`pytest_heval.cli`)."""
    p = subparsers.add_parser("report", help=HELP, description=HELP)
    add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except HevalError as e:  # unreadable or malformed input: a usage error (exit 2)
        e.usage = True
        raise


def _run(args: argparse.Namespace) -> int:
    try:
        ks = parse_ks(args.k)
    except ValueError as e:
        raise HevalError(str(e).replace("--heval-k", "--k")) from None
    opts = CheckpointOptions(compare_to=args.compare_to, fail_if_regressed=args.fail_if_regressed, alpha=args.alpha,
                             per_problem=args.per_problem, html=args.html, resamples=args.resamples, seed=args.seed)
    opts.check("-")
    rows = read_results(args.results)
    report = build(rows, ks, opts, table=True)
    for line in report.lines + report.gate:
        print(line)
    if report.html_error:
        raise HevalError(report.html_error)
    return 1 if report.gate_ok is False else 0
