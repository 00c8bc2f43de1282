"""The worker role: collects the samples files into items and judges them through the :class:`~pytest_heval.Grader`.

Registered in every process that runs items (each xdist worker, or the only process without xdist). What it
judges leaves it only as ``report.heval`` (plain JSON data), which the controller records.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Set

import pytest

from ..grader import Grader, make_plan, sample_form, sample_programs
from ..plan import Ref
from ..verdict import infra_verdict
from .items import SampleItem, SamplesFile
from .options import RunOptions
from .xdist import n_workers, worker_index


class Worker:
    def __init__(self, opts: RunOptions, config: pytest.Config):
        self.opts = opts
        self.config = config
        self.grader: Optional[Grader] = None
        self.selected: Optional[Set[Ref]] = None
        self.samples_paths = set(opts.samples_paths)

    @pytest.hookimpl
    def pytest_collect_file(self, file_path, parent):
        if os.path.abspath(str(file_path)) in self.samples_paths:
            samples = [(s.name, s.index, s.task_id) for s in self.opts.inputs.load(str(file_path)).samples]
            return SamplesFile.from_parent(parent, path=file_path, samples=samples, judge=self.judge,
                                           backstop=self.opts.backstop)
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        self.selected = {(os.path.abspath(str(i.path)), i.index) for i in items if isinstance(i, SampleItem)}

    def judge(self, path: str, index: int) -> Dict[str, Any]:
        if self.grader is None:
            o = self.opts
            self.grader = Grader(o.settings, toolchain=o.toolchain, sandbox=o.sandbox, worker=worker_index())
            program_of = sample_programs(o.inputs, o.settings, o.toolchain, o.timeouts)
            refs = [(p, s.index) for p in o.samples_paths for s in o.inputs.load(p).samples]
            plan = make_plan(refs, program_of, o.settings.batch, n_workers(self.config))
            self.grader.plan(plan, program_of, self.selected)
        ref = (os.path.abspath(path), index)
        v = self.grader.verdict(ref)
        v["completion_form"] = sample_form(self.opts.inputs, self.opts.settings, ref).form
        return v

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if isinstance(item, SampleItem) and rep.when == "call":
            v = item.verdict
            if v is None:  # pytest-timeout's backstop or another exception interrupted the judging
                msg = str(call.excinfo.value) if call.excinfo else "no verdict"
                v = infra_verdict(f"judging was interrupted: {msg[:500]}")
            # "file": the position among the samples files, not a path: a remote worker (--tx ssh=...) reads
            # its rsynced copy under another directory, and the controller maps the position to its own path
            path = os.path.abspath(str(item.path))
            rep.heval = {"path": path, "file": self.opts.samples_paths.index(path), "index": item.index,
                         "verdict": v}

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.grader is not None:
            self.grader.close()
            self.grader = None
