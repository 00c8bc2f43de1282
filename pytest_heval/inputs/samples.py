"""Samples files: JSONL rows ``{task_id, completion, ...}``."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

from ..errors import InputError
from .jsonl import iter_jsonl
from .multipl_e import expand_completions, is_completions_row


@dataclasses.dataclass(frozen=True)
class Sample:
    path: str
    index: int  # 0-based row index in the file (blank lines do not count)
    line: int  # 1-based line number, for error messages
    task_id: str
    completion: str
    row: Dict[str, Any]  # every field of the input row, copied to the result row

    @property
    def name(self) -> str:
        return f"{self.task_id}#{self.index}"


def load_samples(path: str) -> List[Sample]:
    """Read and validate a samples file; raise InputError naming file, line and field.

    A MultiPL-E completions row (``{name, prompt, tests, completions: [...]}``) is one sample per completion; the
    sample index counts the expanded samples in file order."""
    out: List[Sample] = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise InputError(path, f"a sample must be a JSON object, got {type(row).__name__}", line=lineno)
        if is_completions_row(row):
            for task_id, completion, sample_row in expand_completions(path, lineno, row):
                out.append(Sample(path, len(out), lineno, task_id, completion, sample_row))
            continue
        for field in ("task_id", "completion"):
            if field not in row:
                raise InputError(path, "missing required field", line=lineno, field=field)
            if not isinstance(row[field], str):
                raise InputError(
                    path, f"must be a string, got {type(row[field]).__name__}", line=lineno, field=field
                )
        if not row["task_id"]:
            raise InputError(path, "must not be empty", line=lineno, field="task_id")
        for field in ("prompt", "test"):
            if field in row and not isinstance(row[field], str):
                raise InputError(
                    path, f"must be a string, got {type(row[field]).__name__}", line=lineno, field=field
                )
        out.append(Sample(path, len(out), lineno, row["task_id"], row["completion"], row))
    if not out:
        raise InputError(path, "the samples file is empty (no JSON rows)")
    return out
