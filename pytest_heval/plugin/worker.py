"""The worker role: collects the samples files into items and judges them through the :class:`~pytest_heval.Grader`.

Registered in every process that runs items (each xdist worker, or the only process without xdist). What it
judges leaves it only as ``report.heval`` (plain JSON data), which the controller records.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Hashable, Optional, Sequence, Set, Tuple

import orjson
import pytest

from ..grader import Grader, plan_samples, sample_form, sample_programs
from ..inputs import Inputs
from ..plan import Plan, Ref
from ..quality import main_free
from ..shards import Bits
from ..verdict import infra_verdict
from .items import SampleItem, SamplesFile
from .options import RunOptions
from .reports import forget
from .xdist import n_workers, worker_index


class Worker:
    def __init__(self, opts: RunOptions, config: pytest.Config):
        self.opts = opts
        self.config = config
        self.grader: Optional[Grader] = None
        self.plan: Optional[Plan] = None
        self.selected: Optional[Selected] = None
        self.samples_paths = set(opts.samples_paths)
        self.samples_nodeid_files: Set[str] = set()  # the file part of our items' node ids
        self.remote = hasattr(config, "workerinput")  # an xdist worker: nobody reads its terminal
        self._row_fields: Dict[Hashable, Tuple[str, bool]] = {}  # plan key -> (completion_form, main_free)

    @pytest.hookimpl
    def pytest_collect_file(self, file_path, parent):
        if os.path.abspath(str(file_path)) in self.samples_paths:
            f = SamplesFile.from_parent(parent, path=file_path, task_ids=self.opts.inputs.load(str(file_path)).task_ids,
                                        judge=self.judge, backstop=self.opts.backstop)
            self.samples_nodeid_files.add(f.nodeid)
            return f
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        self.selected = Selected(self.opts.inputs, items)

    def judge(self, path: str, index: int) -> Dict[str, Any]:
        o = self.opts
        if self.grader is None:
            self.grader = Grader(o.settings, toolchain=o.toolchain, sandbox=o.sandbox, worker=worker_index())
            self.plan = plan_samples(o.inputs, o.samples_paths, o.settings.batch, n_workers(self.config))
            self.grader.plan(self.plan, sample_programs(o.inputs, o.settings, o.toolchain, o.timeouts), self.selected)
        ref = (path, index)
        v = self.grader.verdict(ref)
        key = self.plan.key(ref)
        fields = self._row_fields.get(key)
        if fields is None:  # of the sample's text alone: once per distinct (problem, completion)
            sample = o.inputs.get(path, index)[0]
            fields = self._row_fields[key] = (sample_form(o.inputs, o.settings, ref).form,
                                              main_free(sample.completion))
        v["completion_form"], v["main_free"] = fields
        return v

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if not isinstance(item, SampleItem):
            return
        if rep.when == "call":
            v = item.verdict
            if v is None:  # pytest-timeout's backstop or another exception interrupted the judging
                msg = str(call.excinfo.value) if call.excinfo else "no verdict"
                v = infra_verdict(f"judging was interrupted: {msg[:500]}")
            # "file": the position among the samples files, not a path: a remote worker (--tx ssh=...) reads
            # its rsynced copy under another directory, and the controller maps the position to its own path
            path = item.parent.heval_path
            # one JSON string: execnet sends a string at once, a nested dict value by value
            rep.heval = orjson.dumps({"path": path, "file": self.opts.samples_paths.index(path), "index": item.index,
                                      "verdict": v}).decode()
            item.verdict = None  # sent: pytest keeps every item to the end of the session
        elif rep.when == "teardown":
            item.user_properties = []  # in this last report (the JUnit XML's properties); the item keeps none

    @pytest.hookimpl(trylast=True)  # after xdist sent it to the controller
    def pytest_runtest_logreport(self, report):
        if self.remote and report.nodeid.split("::", 1)[0] in self.samples_nodeid_files:
            forget(self.config, report, count=False)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.grader is not None:
            self.grader.close()
            self.grader = None


class Selected:
    """The samples this process will be asked to judge (its collection after deselection): a bitmap per file."""

    def __init__(self, inputs: Inputs, items: Sequence[pytest.Item]):
        self.bits: Dict[str, Bits] = {}
        for item in items:
            if isinstance(item, SampleItem):
                path = item.parent.heval_path
                bits = self.bits.get(path)
                if bits is None:
                    bits = self.bits[path] = Bits(len(inputs.load(path)))
                bits.add(item.index)

    def __contains__(self, ref: Ref) -> bool:
        bits = self.bits.get(ref[0])
        return bits is not None and ref[1] in bits
