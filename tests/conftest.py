"""Fixtures for the three kinds of tests: ``unit/`` (no rustc, no sandbox; some read the public datasets),
``engine/`` (rustc and a real sandbox, through the Grader), ``plugin/`` (``pytest --heval`` in pytester or a
subprocess). Helpers live in :mod:`tests.helpers`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ADD_PROBLEM, DATASETS, write_jsonl

# pytester gives each inner run a temporary HOME: keep rustup's toolchain reachable for the inner runs
for _var, _dir in (("RUSTUP_HOME", "~/.rustup"), ("CARGO_HOME", "~/.cargo")):
    if _var not in os.environ and os.path.isdir(os.path.expanduser(_dir)):
        os.environ[_var] = os.path.expanduser(_dir)


@pytest.fixture(scope="session")
def datasets() -> Path:
    assert DATASETS.is_dir(), f"the shared datasets are expected at {DATASETS} (set HEVAL_DATASETS)"
    return DATASETS


@pytest.fixture
def add_problems(tmp_path) -> Path:
    return write_jsonl(tmp_path / "problems.jsonl", [ADD_PROBLEM])
