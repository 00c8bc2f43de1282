"""``python -m pytest_heval merge --out PREFIX SHARD_RESULTS...``: the results of ``--heval-shard 1/N`` ... ``N/N``
runs (each ``<samples>.shard-I-of-N_results.jsonl`` beside its ``_metrics.json``) joined into
``PREFIX_results.jsonl`` and ``PREFIX_metrics.json``, as one unsharded run would have written them.

It refuses, saying which files, shards that do not make one whole: a shard given twice or missing, shards of
other splits or of other samples files (the sha256 each shard recorded), graded otherwise (rustc, flags,
limits, sandbox...: the grading each recorded) or holding the same sample. Within one shard a sample's last row
wins, as in a run's own results file (those are counted as duplicated rows).
"""

from __future__ import annotations

import argparse
import datetime
import os
from typing import Any, Dict, List, Tuple

import orjson

from .errors import HevalError
from .fsutil import atomic_write
from .report import checkpoints
from .report.terminal import summary_lines
from .results import file_metrics, grading_diff, write_metrics

HELP = "join the results of --heval-shard I/N runs into one results and metrics file"
RESULTS_SUFFIX = "_results.jsonl"


class MergeError(HevalError):
    usage = True  # exit status 2: the inputs do not make one run


def add_command(subparsers) -> None:
    """Register ``merge`` (see :mod:`pytest_heval.cli`)."""
    p = subparsers.add_parser("merge", help=HELP, description=HELP)
    p.add_argument("shards", nargs="+", metavar="SHARD_RESULTS",
                   help="the shards' <samples>.shard-I-of-N_results.jsonl (each with its _metrics.json beside it)")
    p.add_argument("--out", required=True, metavar="PREFIX",
                   help="write PREFIX_results.jsonl and PREFIX_metrics.json")
    p.set_defaults(run=run)


class Shard:
    """One shard's files: its metrics (what it is), and where each sample's last row is in its results file."""

    def __init__(self, results_path: str):
        if not results_path.endswith(RESULTS_SUFFIX):
            raise MergeError(f"{results_path}: not a results file (its name should end in {RESULTS_SUFFIX})")
        if not os.path.isfile(results_path):
            raise MergeError(f"{results_path}: no such results file")
        self.path = results_path
        self.metrics_path = results_path[:-len(RESULTS_SUFFIX)] + "_metrics.json"
        try:
            with open(self.metrics_path, "rb") as f:
                self.metrics: Dict[str, Any] = orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError) as e:
            raise MergeError(f"{results_path}: its metrics file {self.metrics_path} cannot be read ({e}): the merge "
                             "needs it to know the shard, the samples file and the grading") from None
        info = self.metrics.get("shard")
        needed = ("index", "count", "samples_sha256", "samples_total", "grading")
        if not isinstance(info, dict) or not all(k in info for k in needed):
            raise MergeError(f"{results_path}: not a shard's results ({os.path.basename(self.metrics_path)} records "
                             "no --heval-shard I/N)")
        self.info = info
        self.rows: Dict[int, Tuple[int, int]] = {}  # sample_index -> (offset, length) of its last row
        self.duplicated = 0
        offset = 0
        with open(results_path, "rb") as f:
            for n, line in enumerate(f, start=1):
                if not line.endswith(b"\n"):
                    raise MergeError(f"{results_path}:{n}: a torn last line (the shard's run was killed): "
                                     "run that shard again with --heval-resume")
                try:
                    index = orjson.loads(line).get("sample_index")
                except (orjson.JSONDecodeError, AttributeError) as e:
                    raise MergeError(f"{results_path}:{n}: not a JSON object ({e})") from None
                if not isinstance(index, int) or not 0 <= index < int(info["samples_total"]):
                    raise MergeError(f"{results_path}:{n}: field 'sample_index': {index!r} is not a sample of a "
                                     f"file of {info['samples_total']} samples")
                self.duplicated += index in self.rows
                self.rows[index] = (offset, len(line))
                offset += len(line)

    @property
    def name(self) -> str:
        return f"{self.info['index']}/{self.info['count']}"


def check_whole(shards: List[Shard]) -> None:
    """Refuse shards that do not make one run (MergeError, naming the files)."""
    first = shards[0]
    for s in shards[1:]:
        if s.info["count"] != first.info["count"]:
            raise MergeError(f"shards of different splits: {first.path} is shard {first.name}, {s.path} is shard "
                             f"{s.name}")
        if s.info["samples_sha256"] != first.info["samples_sha256"]:
            raise MergeError(f"shards of different samples files: {first.path} graded one with sha256 "
                             f"{first.info['samples_sha256'][:16]}..., {s.path} one with sha256 "
                             f"{s.info['samples_sha256'][:16]}...")
        diff = grading_diff(first.info["grading"], s.info["grading"], then=f"in {first.path}", now=f"in {s.path}")
        diff += grading_diff({"completion_form": first.metrics.get("completion_form")},
                             {"completion_form": s.metrics.get("completion_form")},
                             then=f"in {first.path}", now=f"in {s.path}")
        if diff:
            raise MergeError("shards graded differently: " + "; ".join(diff))
    by_index: Dict[int, Shard] = {}
    for s in shards:
        if s.info["index"] in by_index:
            raise MergeError(f"shard {s.name} given twice: {by_index[s.info['index']].path} and {s.path}")
        by_index[s.info["index"]] = s
    n = first.info["count"]
    missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in by_index]
    if missing:
        raise MergeError(f"shard(s) {', '.join(missing)} missing: a merge needs all of 1/{n} ... {n}/{n}")
    owner: Dict[int, Shard] = {}
    for s in shards:
        for index in s.rows:
            other = owner.setdefault(index, s)
            if other is not s:
                raise MergeError(f"shards overlap: sample {index} is in {other.path} (shard {other.name}) and in "
                                 f"{s.path} (shard {s.name})")


def merge(paths: List[str], prefix: str) -> Tuple[Dict[str, Any], str, str]:
    """Write ``PREFIX_results.jsonl`` and ``PREFIX_metrics.json`` from the shards' files; return the metrics and
    both paths."""
    shards = [Shard(p) for p in paths]
    check_whole(shards)
    shards.sort(key=lambda s: s.info["index"])
    out_results, out_metrics = prefix + "_results.jsonl", prefix + "_metrics.json"
    if any(os.path.abspath(out_results) == os.path.abspath(s.path) for s in shards):
        raise MergeError(f"--out {prefix}: would overwrite the shard {out_results}")
    where = sorted((index, s, at) for s in shards for index, at in s.rows.items())

    def ordered():
        files = {s.path: open(s.path, "rb") for s in shards}
        try:
            for _, s, (offset, length) in where:
                f = files[s.path]
                f.seek(offset)
                yield f.read(length)
        finally:
            for f in files.values():
                f.close()

    os.makedirs(os.path.dirname(os.path.abspath(out_results)), exist_ok=True)
    atomic_write(out_results, ordered())
    with open(out_results, "rb") as f:
        rows = [orjson.loads(line) for line in f]
    ms = [s.metrics for s in shards]
    ks = sorted({int(k[5:]) for m in ms for k in m if k.startswith("pass@") and k[5:].isdigit()}) or [1]
    first = ms[0]
    per_file = checkpoints.build({out_results: rows}, ks, checkpoints.CheckpointOptions(), table=False).per_file
    started = min((m.get("started") or "" for m in ms), default="")
    ended = max((m.get("ended") or "" for m in ms), default="")
    m = file_metrics(rows, ks, samples_file=first.get("samples_file"), label=first.get("label"),
                     results_file=out_results, expected=int(shards[0].info["samples_total"]),
                     graded_this_run=sum(int(x.get("graded_this_run") or 0) for x in ms),
                     graded_twice=sum(int(x.get("graded_twice") or 0) for x in ms) + sum(s.duplicated for s in shards),
                     saved=True, grading=shards[0].info["grading"], started=started, ended=ended,
                     wall_s=sum(float(x.get("wall_time_s") or 0.0) for x in ms),
                     completion_form=first.get("completion_form"), extra=per_file[out_results])
    m["merged_from"] = [{"results_file": os.path.abspath(s.path), "shard": s.name, "samples": len(s.rows),
                         "expected_samples": s.info.get("expected_samples"), "duplicated_rows": s.duplicated}
                        for s in shards]
    m["merged_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    err = write_metrics(out_metrics, m)
    if err:
        raise HevalError(err)
    return m, out_results, out_metrics


def run(args: argparse.Namespace) -> int:
    m, out_results, out_metrics = merge(list(args.shards), args.out)
    for line in summary_lines(m):
        print(line)
    dup = sum(x["duplicated_rows"] for x in m["merged_from"])
    if dup:
        print(f"  {dup} duplicated row(s) in the shards' files: the last row of each sample kept")
    print(f"metrics: {out_metrics}")
    if not m["complete"]:
        short = [f"{x['shard']} ({x['samples']} of {x['expected_samples']})" for x in m["merged_from"]
                 if x["samples"] != x["expected_samples"]]
        print(f"ERROR: results incomplete: {m['samples']} rows for {m['expected_samples']} samples "
              f"({m['missing']} missing; shards short of rows: {', '.join(short) or 'none'}): grade those shards "
              "again with --heval-resume, then merge again")
        return 1
    return 0
