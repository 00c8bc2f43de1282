"""MultiPL-E's completions files: one row per problem, ``{name, prompt, tests, completions: [...], ...}``.

MultiPL-E writes one JSON object per problem (``language``, ``temperature``, ``stop_tokens``... may be present);
people concatenate them into JSONL. Each completion becomes one sample: ``task_id`` = ``name``, the row's
``prompt``/``tests`` are its problem (an inline MultiPL-E problem: main style, edition 2015 unless the row says),
and ``completion_index`` is its position in the row's list. The sample index is the position in the expanded
list of the whole file, so item names (``<task_id>#<index>``) stay unique and in file order.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import orjson

from ..errors import InputError
from .jsonl import iter_jsonl, read_bytes

RUST_LANGUAGES = ("rs", "rust")


def is_completions_row(row: Any) -> bool:
    """A MultiPL-E completions row: it has a ``completions`` list and no ``completion`` of its own."""
    return isinstance(row, dict) and "completions" in row and "completion" not in row


def expand_completions(path: str, line: int, row: Dict[str, Any]) -> List[Tuple[str, str, Dict[str, Any]]]:
    """(task_id, completion, sample row) for each completion of one completions row, in order.

    Raises InputError naming file, line and field (``completions[j]`` for a bad completion)."""
    for field in ("name", "prompt", "tests"):
        if field not in row:
            raise InputError(path, "missing required field (a MultiPL-E completions row has name, prompt, "
                                   "tests, completions)", line=line, field=field)
        if not isinstance(row[field], str):
            raise InputError(path, f"must be a string, got {type(row[field]).__name__}", line=line, field=field)
    if not row["name"]:
        raise InputError(path, "must not be empty", line=line, field="name")
    lang = row.get("language")
    if lang is not None and str(lang).lower() not in RUST_LANGUAGES:
        raise InputError(path, f"is {lang!r}: only Rust ({', '.join(RUST_LANGUAGES)}) completions can be graded",
                         line=line, field="language")
    completions = row["completions"]
    if not isinstance(completions, list):
        raise InputError(path, f"must be a list of strings, got {type(completions).__name__}", line=line,
                         field="completions")
    if not completions:
        raise InputError(path, "is empty: the problem would have no samples", line=line, field="completions")
    for j, c in enumerate(completions):
        if not isinstance(c, str):
            raise InputError(path, f"must be a string, got {type(c).__name__}", line=line, field=f"completions[{j}]")
    return [completion_sample(path, line, row, j) for j in range(len(completions))]


def completion_sample(path: str, line: int, row: Dict[str, Any], j: int) -> Tuple[str, str, Dict[str, Any]]:
    """(task_id, completion, sample row) of completion ``j`` of a completions row :func:`expand_completions` has
    checked."""
    c = row["completions"][j]
    base = {k: v for k, v in row.items() if k != "completions"}
    base.update(task_id=row["name"], completion=c, completion_index=j)
    return row["name"], c, base


def load_completions(path: str) -> list:
    """Every sample (:class:`~pytest_heval.inputs.samples.Sample`) of a completions file: JSONL rows, or one JSON
    object / list (MultiPL-E's per-problem ``.json(.gz)`` files)."""
    from .samples import Sample  # samples.py reads completions rows through this module

    data = read_bytes(path)
    s = data.strip()
    if s.startswith(b"[") or _single_object(s):
        try:
            value = orjson.loads(s)
        except orjson.JSONDecodeError as e:
            raise InputError(path, f"malformed JSON: {e}") from None
        rows = list(enumerate(value if isinstance(value, list) else [value], start=1))
    else:
        rows = list(iter_jsonl(path, data))
    out = []
    for line, row in rows:
        if not is_completions_row(row):
            raise InputError(path, "not a MultiPL-E completions row (want an object with name, prompt, tests, "
                                   "completions)", line=line)
        for task_id, completion, sample_row in expand_completions(path, line, row):
            out.append(Sample(path, len(out), line, task_id, completion, sample_row))
    if not out:
        raise InputError(path, "the completions file is empty (no JSON rows)")
    return out


def _single_object(s: bytes) -> bool:
    """One JSON object spread over several lines (an indented file), not JSONL."""
    if not s.startswith(b"{") or b"\n" not in s:
        return False
    try:
        orjson.loads(s.split(b"\n", 1)[0])
        return False  # the first line is a whole object: JSONL
    except orjson.JSONDecodeError:
        return True
