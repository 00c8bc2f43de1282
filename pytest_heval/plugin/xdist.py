"""Everything about pytest-xdist: how many workers ``-n auto`` starts, which worker this is, a scheduler that
sends each batch to one worker, and the mapping from a node id back to its sample."""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

import pytest
from xdist.scheduler import LoadScopeScheduling

from ..plan import Ref


def distributing(config: pytest.Config) -> bool:
    """Whether this process hands its items to xdist workers (the condition xdist itself uses)."""
    return (not config.getoption("collectonly", False) and config.getoption("dist", "no") != "no"
            and bool(config.getoption("tx", None)))


def n_workers(config: pytest.Config) -> int:
    env = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if env and env.isdigit():
        return int(env)
    n = config.getoption("numprocesses", None)
    return n if isinstance(n, int) and n > 0 else 1


def worker_index() -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0


def locate(nodeid: str, rootpath: str, samples_paths: List[str]) -> Optional[Ref]:
    """(samples path, index) of a node id ``<file>::<task_id>#<index>``, for reports that carry no data (a crashed
    worker's), and for scheduling."""
    file_part, sep, name = nodeid.partition("::")
    if not sep or "#" not in name:
        return None
    idx = name.rsplit("#", 1)[1]
    if not idx.isdigit():
        return None
    full = os.path.abspath(os.path.join(rootpath, file_part))
    if full in samples_paths:
        return full, int(idx)
    for p in samples_paths:
        if os.path.basename(p) == os.path.basename(file_part):
            return p, int(idx)
    return None


class BatchScheduling(LoadScopeScheduling):
    """xdist's load-scope scheduling with a batch as the scope: a batch's samples (and every duplicate of its
    programs) go to one worker, which builds them with one rustc. Node ids are unchanged."""

    def __init__(self, config: pytest.Config, log, scope_of: Callable[[str], Optional[str]]):
        super().__init__(config, log)
        self._scope_of = scope_of

    def _split_scope(self, nodeid: str) -> str:
        return self._scope_of(nodeid) or nodeid


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> Optional[int]:
    """``-n auto`` under --heval: min(cpus - 2, available GiB / 4), at least 1 (the runbook's formula). Ours answers
    before xdist's own (tryfirst), unless PYTEST_XDIST_AUTO_NUM_WORKERS says otherwise."""
    if not config.getoption("heval", False) or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 2, int(available_gib() // 4)))


def available_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 4.0


