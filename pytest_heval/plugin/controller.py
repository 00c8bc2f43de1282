"""The controller role: records each finished sample's row, then writes the metrics, the JUnit suite properties,
the terminal summary and the gate's exit status.

Registered in the process that sees every report: the xdist controller, or the only process without xdist. It
never judges: data flows one way, from a worker's ``report.heval`` to a row of the results file.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any, Dict, List, Optional

import pytest

from ..features import features
from ..grader import make_plan, sample_programs
from ..metrics import compute, threshold_check
from ..plan import Plan, Ref
from ..report.junit import junit_suite_properties
from ..report.terminal import fmt_duration, summary_lines
from ..results import ResultsWriter, output_paths, result_row, write_metrics
from ..verdict import infra_verdict
from .options import RunOptions
from .xdist import BatchScheduling, locate, n_workers

PROGRESS_EVERY_S = 15.0
LETTERS = {"compile_error": "C", "compile_timeout": "C", "timeout": "T", "infra_error": "I"}


class Controller:
    def __init__(self, opts: RunOptions, config: pytest.Config):
        self.opts = opts
        self.config = config
        self.started = time.time()
        self._last_progress = self.started
        self._plan: Optional[Plan] = None
        self.writers: Dict[str, ResultsWriter] = {}
        self.metrics: Dict[str, Dict[str, Any]] = {}
        self.messages: List[str] = []
        self.expected: Optional[int] = None  # samples selected to run (None: not known yet)
        if getattr(config.option, "tbstyle", None) == "auto":
            # every sample's failure is in the results file and the short summary: a FAILURES section
            # of thousands of samples helps nobody (and pytest's cost for it is failures x reports); --tb shows it
            config.option.tbstyle = "no"

    # ---- scheduling (xdist) ----------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        if self._plan is None:
            o = self.opts
            refs = [(p, s.index) for p in o.samples_paths for s in o.inputs.load(p).samples]
            self._plan = make_plan(refs, sample_programs(o.inputs, o.settings, o.toolchain), o.settings.batch,
                                   n_workers(self.config))
        return self._plan

    def _locate(self, nodeid: str) -> Optional[Ref]:
        return locate(nodeid, str(self.config.rootpath), self.opts.samples_paths)

    def _scope(self, nodeid: str) -> Optional[str]:
        ref = self._locate(nodeid)
        if ref is None or ref not in self.plan.key_of:
            return None
        return f"heval-batch-{self.plan.scope(ref)}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        return BatchScheduling(config, log, self._scope)

    # ---- recording -------------------------------------------------------------------------
    def pytest_sessionstart(self, session):
        seen: Dict[str, str] = {}
        for p in self.opts.samples_paths:
            res, _ = output_paths(p, self.opts.settings.results)
            if res in seen:
                raise pytest.UsageError(f"{seen[res]} and {p} would both write {res}: give them different names "
                                        "or drop --heval-results")
            seen[res] = p
            try:
                self.writers[p] = ResultsWriter(res)
            except OSError as e:
                raise pytest.UsageError(f"cannot create the results file {res}: {e.strerror or e}") from None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        self.expected = len(items)

    def pytest_runtest_logreport(self, report):
        h = getattr(report, "heval", None)
        if h is not None:
            self._record(os.path.abspath(h["path"]), h["index"], h["verdict"])
        elif report.failed and report.when != "teardown":
            loc = self._locate(report.nodeid)
            if loc is not None:
                why = "the worker running it crashed" if report.when == "???" else f"{report.when} failed"
                self._record(loc[0], loc[1], infra_verdict(f"{why}: {str(report.longrepr)[-500:]}"))

    def _record(self, path: str, index: int, v: Dict[str, Any]) -> None:
        w = self.writers.get(path)
        if w is None:
            return
        sample, _ = self.opts.inputs.get(path, index)
        if "features" not in v:  # a verdict the Grader did not give (a crashed worker, an interrupted item)
            v = dict(v, features=sorted(features(sample.completion)))
        w.write(result_row(sample.row, index, v))
        self._progress()

    def _progress(self) -> None:
        """Every PROGRESS_EVERY_S seconds, one line: samples done, samples/min, ETA."""
        now = time.time()
        if now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        done = sum(len(w.rows) for w in self.writers.values())
        total = self.expected if self.expected is not None else sum(
            len(self.opts.inputs.load(p).samples) for p in self.opts.samples_paths)
        rate = done / (now - self.started) * 60 if now > self.started else 0.0
        eta = (total - done) / rate * 60 if rate > 0 else float("inf")
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.ensure_newline()
            tr.write_line(f"[heval] {done}/{total} samples, {rate:,.0f}/min, ETA {fmt_duration(eta)}")

    def pytest_report_teststatus(self, report, config):
        h = getattr(report, "heval", None)
        if h is None or report.when != "call" or not report.failed:
            return None
        et = h["verdict"].get("error_type") or "failed"
        return "failed", LETTERS.get(et, "F"), f"FAILED [{et}]"

    # ---- the end ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        o = self.opts
        ended = time.time()
        wall = ended - self.started
        grading = o.settings.grading(o.toolchain, o.sandbox.kind)
        # the junitxml plugin's LogXML (record_testsuite_property does not work under xdist)
        xml = next((p for p in self.config.pluginmanager.get_plugins() if hasattr(p, "add_global_property")), None)
        for path, w in self.writers.items():
            rows = w.finish()
            if w.error:
                self.messages.append(w.error)
            m = compute(rows, o.ks)
            m.update({"samples_file": path, "results_file": w.path,
                      "expected_samples": len(o.inputs.load(path).samples)})
            m.update(grading)
            m.update({
                "started": datetime.datetime.fromtimestamp(self.started, datetime.timezone.utc).isoformat(),
                "ended": datetime.datetime.fromtimestamp(ended, datetime.timezone.utc).isoformat(),
                "wall_time_s": round(wall, 3),
                "samples_per_minute": round(len(rows) / wall * 60, 1) if wall > 0 else None,
            })
            self.metrics[path] = m
            err = write_metrics(output_paths(path, o.settings.results)[1], m)
            if err:
                self.messages.append(err)
            if xml is not None:
                suffix = "" if len(self.writers) == 1 else f"[{os.path.basename(path)}]"
                for k, v in junit_suite_properties(m).items():
                    xml.add_global_property(k + suffix, v)
        if o.fail_under and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                           pytest.ExitCode.NO_TESTS_COLLECTED):
            ok = True
            for path, m in self.metrics.items():
                for name, threshold in o.fail_under:
                    good, msg = threshold_check(m, name, threshold)
                    ok &= good
                    self.messages.append(f"fail-under {'ok' if good else 'FAILED'}: {os.path.basename(path)}: {msg}")
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if not self.metrics:
            return
        tr = terminalreporter
        tr.write_sep("=", "pytest-heval summary")
        tr.write_line(f"rustc: {self.opts.toolchain.version}   sandbox: {self.opts.sandbox.kind}   k: {self.opts.ks}")
        for path, m in self.metrics.items():
            for line in summary_lines(path, m, m["results_file"], m["expected_samples"], self.writers[path].error):
                tr.write_line(line)
        for msg in self.messages:
            tr.write_line(msg)
