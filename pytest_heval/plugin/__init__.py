"""The pytest plugin (entry point ``heval``): options, and one object per role, chosen once per process.

* :mod:`.options`: the ``--heval-*`` options (from the settings table) and what is read from them.
* :mod:`.controller`: records rows, writes metrics, summary, JUnit properties, the gate (any non-worker process).
* :mod:`.worker`: collects samples files into items and judges them with the Grader (any process that runs items).
* :mod:`.items`: the pytest File and Item of a samples file.  :mod:`.xdist`: scheduling, ``-n auto``, node ids.

Without ``--heval`` the plugin does nothing.
"""

from __future__ import annotations

import os

import pytest

from ..inputs import read_head
from ..inputs.jsonl import is_jsonl_path
from .controller import Controller
from .options import RunOptions, pytest_addoption
from .selection import Selection
from .worker import Worker
from .xdist import bound_worker_restarts, check_same_grading, distributing, pytest_xdist_auto_num_workers

__all__ = ["pytest_addoption", "pytest_configure", "pytest_xdist_auto_num_workers"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("heval", False):
        _hint_without_heval(config)
        return
    is_worker = hasattr(config, "workerinput")
    opts = RunOptions.from_config(config, validate_inputs=not is_worker)
    if is_worker:
        check_same_grading(config, opts.settings.grading(opts.toolchain, opts.sandbox.kind))
    if not is_worker:
        config.pluginmanager.register(Controller(opts, config), "heval-controller")
        bound_worker_restarts(config)
    if is_worker or not distributing(config):
        config.pluginmanager.register(Selection(opts.samples_paths, config), "heval-selection")
        config.pluginmanager.register(Worker(opts, config), "heval-worker")


def _hint_without_heval(config: pytest.Config) -> None:
    """``pytest samples.jsonl`` without --heval would say "not found" of an existing file: say what to add."""
    for a in config.args:
        p = str(a).split("::", 1)[0]
        if is_jsonl_path(p) and os.path.isfile(p):
            try:
                with open(p, "rb") as f:
                    head = read_head(f)
            except OSError:
                continue
            if head.startswith(b"{") and b'"task_id"' in head.split(b"\n", 1)[0]:
                raise pytest.UsageError(f"{p} looks like a samples file: add --heval to grade it "
                                        f"(pytest --heval {p} --heval-problems PROBLEMS)")
