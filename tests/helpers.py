"""Helpers shared by the tests: the datasets' location, JSONL files, small problems, an engine Grader."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterable, List

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("HEVAL_DATASETS", REPO.parent / "shared" / "datasets"))


def read_jsonl(path) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows: Iterable[dict]) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def result_rows(samples_path) -> List[dict]:
    return read_jsonl(str(samples_path) + "_results.jsonl")


# A tiny human-eval style problem used across the tests.
ADD_PROBLEM = {
    "task_id": "Add/0",
    "prompt": "fn add(a: i32, b: i32) -> i32 {\n",
    "test": "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn test_add() {\n"
            "        assert_eq!(add(2, 3), 5);\n        assert_eq!(add(-1, 1), 0);\n    }\n}\n",
    "entry_point": "add",
}
# The same in MultiPL-E's main style (assertions in fn main; tests close the prompt's function).
ADD_MAIN_PROBLEM = {
    "name": "AddMain_0",
    "prompt": "fn add(a: i32, b: i32) -> i32 {\n",
    "tests": "}\n\nfn main() {\n    let candidate = add;\n    assert_eq!(candidate(2, 3), 5);\n}\n",
}


def grader(sandbox: str, worker: int = 0, **settings):
    """An engine Grader on a real sandbox (its runner starts on first use; close it when done)."""
    from pytest_heval import Grader, Settings

    return Grader(Settings(sandbox=sandbox, **settings), worker=worker)


@contextlib.contextmanager
def started_grader(sandbox: str, uid_base: int, **settings):
    """A Grader on a real sandbox with its runner started, and a sample uid of its own per test process and sandbox
    (``uid_base`` apart per test file): RLIMIT_NPROC is counted per uid, so one file's fork bomb must not starve
    another's samples, nor another xdist worker's."""
    worker = uid_base + (os.getpid() % 100_000) * 2 + ("firejail", "bwrap").index(sandbox)
    with grader(sandbox, worker=worker, **settings) as g:
        g.client.start()
        yield g
