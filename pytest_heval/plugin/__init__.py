"""The pytest plugin (entry point ``heval``): options, and one object per role, chosen once per process.

* :mod:`.options`: the ``--heval-*`` options (from the settings table) and what is read from them.
* :mod:`.controller`: records rows, writes metrics, summary, JUnit properties, the gate (any non-worker process).
* :mod:`.worker`: collects samples files into items and judges them with the Grader (any process that runs items).
* :mod:`.items`: the pytest File and Item of a samples file.  :mod:`.xdist`: scheduling, ``-n auto``, node ids.

Without ``--heval`` the plugin does nothing.
"""

from __future__ import annotations

import pytest

from .controller import Controller
from .options import RunOptions, pytest_addoption
from .worker import Worker
from .xdist import distributing, pytest_xdist_auto_num_workers

__all__ = ["pytest_addoption", "pytest_configure", "pytest_xdist_auto_num_workers"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("heval", False):
        return
    is_worker = hasattr(config, "workerinput")
    opts = RunOptions.from_config(config, validate_inputs=not is_worker)
    if not is_worker:
        config.pluginmanager.register(Controller(opts, config), "heval-controller")
    if is_worker or not distributing(config):
        config.pluginmanager.register(Worker(opts, config), "heval-worker")
