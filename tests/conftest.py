"""Shared fixtures: the public datasets in ../shared/datasets and helpers to run `pytest --heval`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, List

import pytest

# pytester gives each inner run a temporary HOME: keep rustup's toolchain reachable for the inner runs
for _var, _dir in (("RUSTUP_HOME", "~/.rustup"), ("CARGO_HOME", "~/.cargo")):
    if _var not in os.environ and os.path.isdir(os.path.expanduser(_dir)):
        os.environ[_var] = os.path.expanduser(_dir)

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("HEVAL_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets() -> Path:
    assert DATASETS.is_dir(), f"the shared datasets are expected at {DATASETS} (set HEVAL_DATASETS)"
    return DATASETS


def read_jsonl(path) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows: Iterable[dict]) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


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


@pytest.fixture
def add_problems(tmp_path) -> Path:
    return write_jsonl(tmp_path / "problems.jsonl", [ADD_PROBLEM])


def result_rows(samples_path) -> List[dict]:
    return read_jsonl(str(samples_path) + "_results.jsonl")
