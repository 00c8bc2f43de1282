"""Everything about pytest-xdist: how many workers ``-n auto`` starts, which worker this is, a scheduler that
sends each batch to one worker, and the mapping from a node id back to its sample."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

import pytest
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import parse_tx_spec_config

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
    if isinstance(n, int) and n > 0:
        return n
    if config.getoption("tx", None):  # --tx without -n (ssh=... gateways): as many workers as xdist starts
        return len(parse_tx_spec_config(config))
    return 1


def bound_worker_restarts(config: pytest.Config) -> None:
    """xdist bounds worker restarts only under -n (4 per worker): with --tx alone, a host that cannot start a
    worker (no rustc, no sandbox, no pytest-heval: a usage error there) would be replaced forever. Bound it the
    same way (xdist's DSession, made in its trylast pytest_configure, reads the option after us)."""
    opt = config.option
    if (getattr(opt, "tx", None) and not getattr(opt, "numprocesses", None)
            and getattr(opt, "maxworkerrestart", 0) is None):
        opt.maxworkerrestart = str(4 * n_workers(config))


def check_same_grading(config: pytest.Config, grading: Dict[str, Any]) -> None:
    """In a worker: a usage error unless this host grades as the controller does (its ``pytest_configure_node``
    sent its grading). A remote host (--tx ssh=...) may have another rustc, sandbox or pytest-heval, and does not
    read the controller's ini file; its verdicts would then differ from what the metrics file records."""
    workerinput = config.workerinput  # type: ignore[attr-defined]
    theirs = workerinput.get("heval_grading")
    if theirs is None:
        return
    diff = [f"{k}: {v!r} here, {theirs.get(k)!r} on the controller" for k, v in grading.items() if v != theirs.get(k)]
    if diff:
        raise pytest.UsageError(f"worker {workerinput.get('workerid')} grades differently from the controller: "
                                + "; ".join(diff) + " (every host needs the same rustc, sandbox and pytest-heval; "
                                "give settings on the command line, not in an ini file only the controller reads)")


def worker_index() -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0


class Locator:
    """(samples path, index) of a node id ``<file>::<task_id>#<index>``, for reports that carry no data (a crashed
    worker's), and for scheduling (called for every node id of every worker's collection: the file part of a node
    id is resolved once)."""

    def __init__(self, rootpath: str, samples_paths: List[str]):
        self.rootpath = rootpath
        self.samples_paths = samples_paths
        self._path_of: Dict[str, Optional[str]] = {}

    def __call__(self, nodeid: str) -> Optional[Ref]:
        file_part, sep, name = nodeid.partition("::")
        if not sep:
            return None
        _, hash_, idx = name.rpartition("#")
        if not hash_ or not idx.isdigit():
            return None
        try:
            path = self._path_of[file_part]
        except KeyError:
            path = self._path_of[file_part] = self._resolve(file_part)
        return None if path is None else (path, int(idx))

    def _resolve(self, file_part: str) -> Optional[str]:
        full = os.path.abspath(os.path.join(self.rootpath, file_part))
        if full in self.samples_paths:
            return full
        return next((p for p in self.samples_paths if os.path.basename(p) == os.path.basename(file_part)), None)


class BatchScheduling(LoadScopeScheduling):
    """xdist's load-scope scheduling with a batch as the scope: a batch's samples (and every duplicate of its
    programs) go to one worker, which builds them with one rustc. Node ids are unchanged.

    At a million samples xdist's own bookkeeping is quadratic (it counts a node's unfinished tests over everything
    ever sent to it after every report, and finds each sent test's index with ``list.index``), and it keeps one copy
    of the collection per worker. Here: unfinished tests are counted as reports come in, a finished scope is
    forgotten, node ids are indexed once, and workers that collected the same share one list."""

    def __init__(self, config: pytest.Config, log, scope_of: Callable[[str], Optional[str]]):
        super().__init__(config, log)
        self._scope_of = scope_of
        self._left: Dict[int, int] = {}  # id(work unit) -> its tests not yet reported
        self._index: Optional[Dict[str, int]] = None  # node id -> its index in (every) collection

    def _split_scope(self, nodeid: str) -> str:
        return self._scope_of(nodeid) or nodeid

    def add_node_collection(self, node, collection) -> None:
        super().add_node_collection(node, collection)
        mine = self.registered_collections.get(node)
        for other, theirs in self.registered_collections.items():
            if other is not node and theirs is not mine and theirs == mine:
                self.registered_collections[node] = theirs
                break

    def _pending_of(self, workload: Dict[str, Dict[str, bool]]) -> int:
        return sum(self._left.get(id(unit), 0) for unit in workload.values())

    def _assign_work_unit(self, node) -> None:
        scope, unit = self.workqueue.popitem(last=False)
        self.assigned_work.setdefault(node, {})[scope] = unit
        collection = self.registered_collections[node]
        if self._index is None or collection is not self.collection:
            if collection == self.collection:
                self.registered_collections[node] = collection = self.collection
            else:  # pragma: no cover - xdist refuses a run whose workers collected differently
                self._index = None
        if self._index is None:
            self._index = {nodeid: i for i, nodeid in enumerate(collection)}
        todo = [self._index[nodeid] for nodeid, done in unit.items() if not done]
        self._left[id(unit)] = len(todo)
        node.send_runtest_some(todo)

    def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        scope = self._split_scope(nodeid)
        work = self.assigned_work[node]
        unit = work.get(scope)
        if unit is not None and not unit.get(nodeid, True):
            unit[nodeid] = True
            left = self._left[id(unit)] = self._left[id(unit)] - 1
            if left == 0:  # finished: a node that dies later has nothing of it to give back
                del work[scope]
                del self._left[id(unit)]
        self._reschedule(node)


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


