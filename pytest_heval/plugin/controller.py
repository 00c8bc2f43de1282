"""The controller role: records each finished sample's row, then writes the metrics, the JUnit suite properties,
the terminal summary and the gate's exit status.

Registered in the process that sees every report: the xdist controller, or the only process without xdist. It
never judges: data flows one way, from a worker's ``report.heval`` to a row of the results file.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from typing import Any, Dict, List, Optional

import pytest

from ..features import features
from ..grader import plan_samples
from ..metrics import threshold_check
from ..plan import Plan
from ..report import checkpoints
from ..report.junit import junit_suite_properties
from ..report.terminal import FAILED_NAMES, failed_lines, progress_line, summary_lines
from ..results import (ResultsFile, file_metrics, output_paths, result_row, stale_reason, summary_rows,
                       write_metrics)
from ..fsutil import file_sha256
from ..shards import Bits, finished_indexes, shard_indexes
from ..verdict import infra_verdict
from .options import RunOptions
from .reports import forget, heval_data, keeps_reports
from .selection import SKIP, skip_to_wire
from .xdist import BatchScheduling, Locator, n_workers

PROGRESS_EVERY_S = 15.0  # plain progress lines (not a terminal); on a terminal the bar moves with every sample


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


class _Deselected:
    """Stands for a sample an xdist worker deselected, in the terminal's count (xdist does not pass those on)."""

    nodeid = ""


class Controller:
    def __init__(self, opts: RunOptions, config: pytest.Config):
        self.opts = opts
        self.config = config
        self.started = time.time()
        self._last_progress = self.started
        self._plan: Optional[Plan] = None
        self.locate = Locator(str(config.rootpath), opts.samples_paths)
        self.files: Dict[str, ResultsFile] = {}
        self.metrics: Dict[str, Dict[str, Any]] = {}
        self.messages: List[str] = list(opts.notes)
        self.checkpoint_lines: List[str] = []
        self.selected: Optional[int] = None  # samples this run grades (None: not known yet)
        self.expected: Dict[str, int] = {}  # samples path -> samples its results file should hold (a shard's own)
        self._sha256: Dict[str, str] = {}
        self.skipped = 0  # samples deselected by --heval-shard / --heval-resume
        self.failed: Dict[str, List[Any]] = {}  # error type -> [failed samples, the first FAILED_NAMES names]
        self.verbose = config.get_verbosity() > 0
        opt = config.option
        if getattr(opt, "tbstyle", None) == "auto":
            # every sample's failure is in the results file: a FAILURES section of thousands of samples helps
            # nobody (and pytest's cost for it is failures x reports); --tb shows it
            opt.tbstyle = "no"
        chars = getattr(opt, "reportchars", "") or ""
        asked = any(str(a).startswith("-r") for a in config.invocation_params.args)
        if not self.verbose and not asked:
            # our summary lists failed samples grouped by error type and capped; -rA or -v lists every one
            opt.reportchars = chars.replace("f", "").replace("F", "")
        self.keep_reports = keeps_reports(config)

    # ---- scheduling (xdist) ----------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        if self._plan is None:
            o = self.opts
            self._plan = plan_samples(o.inputs, o.samples_paths, o.settings.batch, n_workers(self.config))
        return self._plan

    def _scope(self, nodeid: str) -> Optional[str]:
        ref = self.locate(nodeid)
        if ref is None or ref not in self.plan:
            return None
        return f"heval-batch-{self.plan.scope(ref)}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        return BatchScheduling(config, log, self._scope)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        if self.selected is None:
            self.selected = sum(self.locate(i) is not None for i in ids)
            if self.skipped:  # xdist does not pass on the workers' deselections: say it here, once
                self.config.hook.pytest_deselected(items=[_Deselected()] * self.skipped)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """What each worker must use: the problem files this process chose (named sets resolved, or guessed), the
        samples not to grade (other shards', those resumed), and how it grades (a remote worker checks it grades
        the same: ``check_same_grading``)."""
        node.workerinput["heval_problem_files"] = list(self.opts.inputs.problem_paths)
        node.workerinput["heval_skip"] = skip_to_wire(self.config.stash.get(SKIP, []))
        node.workerinput["heval_grading"] = self.opts.settings.grading(self.opts.toolchain, self.opts.sandbox.kind)
        if self.opts.timeouts is not None:  # --heval-timeout auto: calibrated here, once
            node.workerinput["heval_timeouts"] = self.opts.timeouts

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        self.selected = sum(getattr(i, "heval_sample", False) for i in items)

    # ---- recording -------------------------------------------------------------------------
    def pytest_sessionstart(self, session):
        o = self.opts
        grading = o.settings.grading(o.toolchain, o.sandbox.kind)
        seen: Dict[str, str] = {}
        skip: List[Optional[Bits]] = []
        plans = []
        for p in o.samples_paths:
            res, met = output_paths(p, o.settings.results, o.shard)
            if res in seen:
                raise pytest.UsageError(f"{seen[res]} and {p} would both write {res}: give them different names "
                                        "or drop --heval-results")
            seen[res] = p
            samples = o.inputs.load(p)
            outside = None
            if o.shard is not None:  # the other shards' samples
                outside = shard_indexes(samples.task_ids, o.shard).invert()
            self.expected[p] = len(samples) - (len(outside) if outside is not None else 0)
            collect_only = self.config.option.collectonly
            reason = None if collect_only and not o.resume else stale_reason(res, met, samples, grading)
            if reason and o.resume:
                raise pytest.UsageError(
                    f"--heval-resume: {res} holds the results of {reason}: they cannot be resumed; grade again "
                    "without --heval-resume (the old files are then kept as .previous)")
            if reason and o.partial:
                raise pytest.UsageError(
                    f"{res} holds the results of {reason}; this run grades only part of {p} (-k, -m, --lf, "
                    "--deselect or node ids) and would mix them: grade the whole file, or write elsewhere "
                    "with --heval-results DIR")
            if o.resume:
                done = finished_indexes(res, len(samples))
                kept = len(done)
                outside = done if outside is None else outside | done
                self.messages.append(f"{o.labels[p]}: --heval-resume: {kept} finished row(s) of {res} kept, "
                                     f"{self.expected[p] - kept} sample(s) to grade")
            skip.append(outside)
            plans.append((p, res, met, reason))
        self.config.stash[SKIP] = skip
        self.skipped = sum(len(b) for b in skip if b is not None)
        if self.config.option.collectonly:
            return  # --co writes nothing (and deselects as the run would)
        for p, res, met, reason in plans:
            if reason:
                for f in (res, met):
                    if os.path.exists(f):
                        os.replace(f, f + ".previous")
                self.messages.append(f"{o.labels[p]}: {res} held the results of {reason}: kept as "
                                     f"{os.path.basename(res)}.previous")
            rf = ResultsFile(res)
            try:
                rf.open()
            except OSError as e:
                raise pytest.UsageError(f"cannot create the results file {res}: {e.strerror or e}") from None
            self.files[p] = rf
            extra = {}
            if o.shard is not None:
                extra["shard"] = self._shard_info(p, grading)
            write_metrics(met, {"samples_file": p, "label": o.labels[p], "results_file": res, "status": "running",
                                "started": _iso(self.started), **grading, **extra})

    def _shard_info(self, path: str, grading: Dict[str, Any]) -> Dict[str, Any]:
        """What the merge command checks of each shard: which split, of which samples file, graded how."""
        i, n = self.opts.shard
        if path not in self._sha256:
            self._sha256[path] = file_sha256(path)
        return {"index": i, "count": n, "samples_sha256": self._sha256[path],
                "samples_total": len(self.opts.inputs.load(path)), "expected_samples": self.expected[path],
                "grading": grading}

    @pytest.hookimpl(trylast=True)  # after the terminal reporter and the JUnit XML writer have seen the report
    def pytest_runtest_logreport(self, report):
        h = heval_data(report)
        if h is not None:
            self._record(self.opts.samples_paths[h["file"]], h["index"], h["verdict"], report.nodeid)
        elif report.failed and report.when != "teardown":
            loc = self.locate(report.nodeid)
            if loc is not None:
                why = "the worker running it crashed" if report.when == "???" else f"{report.when} failed"
                self._record(loc[0], loc[1], infra_verdict(f"{why}: {str(report.longrepr)[-500:]}"), report.nodeid)
        if not self.keep_reports and (h is not None or self.locate(report.nodeid) is not None):
            forget(self.config, report, count=True)  # a crashed sample's report counts as failed too

    def _record(self, path: str, index: int, v: Dict[str, Any], nodeid: str) -> None:
        rf = self.files.get(path)
        if rf is None:
            return
        sample = self.opts.inputs.load(path).sample(index)
        if "features" not in v:  # a verdict the Grader did not give (a crashed worker, an interrupted item)
            v = dict(v, features=sorted(features(sample.completion)))
        rf.write(result_row(sample.row, index, v))
        if not v.get("passed"):
            group = self.failed.setdefault(v.get("error_type") or "failed", [0, []])
            group[0] += 1
            if len(group[1]) < FAILED_NAMES:
                group[1].append(nodeid.split("::", 1)[-1])
        self._progress()

    def _progress(self, final: bool = False) -> None:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is None or self.verbose:
            return
        now = time.time()
        on_tty = getattr(tr, "isatty", False)
        if not final and not on_tty and now - self._last_progress < PROGRESS_EVERY_S:
            return
        if on_tty and not final and now - self._last_progress < 0.2:
            return
        self._last_progress = now
        done = sum(rf.written for rf in self.files.values())
        total = self.selected if self.selected is not None else sum(self.expected.values())
        line = progress_line(done, total, now - self.started, bar=on_tty, final=final)
        if on_tty:
            width = shutil.get_terminal_size().columns - 1
            tr.write("\r" + line[:width].ljust(width))
            if final:
                tr.write("\n")
        else:
            tr.ensure_newline()
            tr.write_line(line)

    def pytest_report_teststatus(self, report, config):
        h = heval_data(report)
        if h is None or report.when != "call":
            return None
        et = h["verdict"].get("error_type") or "failed"
        if report.passed:
            return "passed", "" if not self.verbose else ".", "PASSED"
        return "failed", "" if not self.verbose else "F", f"FAILED [{et}]"

    # ---- the end ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if not self.files:
            return
        o = self.opts
        ended = time.time()
        wall = ended - self.started
        grading = o.settings.grading(o.toolchain, o.sandbox.kind)
        # the junitxml plugin's LogXML (record_testsuite_property does not work under xdist)
        xml = next((p for p in self.config.pluginmanager.get_plugins() if hasattr(p, "add_global_property")), None)
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail
        problems = []
        rows_by_path = {}
        for path, rf in self.files.items():
            rf.finish()
            if rf.error:
                self.messages.append(rf.error)
            rows = summary_rows(rf.path, shown=bool(o.checkpoints.html))
            if rf.error:  # not rewritten: a sample's last row counts, once (as in a rewritten file)
                rows = list({r["sample_index"]: r for r in rows}.values())
            rows_by_path[path] = rows
        cp = checkpoints.build(rows_by_path, o.ks, o.checkpoints, label_of=o.labels)
        self.checkpoint_lines = cp.lines
        if cp.html_error:
            self.messages.append(cp.html_error)
        for path, rf in self.files.items():
            m = file_metrics(rows_by_path[path], o.ks, samples_file=path, label=o.labels[path], results_file=rf.path,
                             expected=self.expected[path], graded_this_run=rf.written,
                             graded_twice=len(rf.rewritten), saved=rf.error is None, grading=grading,
                             started=_iso(self.started), ended=_iso(ended), wall_s=wall,
                             completion_form=o.settings.completion_form, extra=cp.per_file[path])
            if o.timeouts is not None:  # every CPU limit used, per problem (calibrated, or the fixed one)
                m["timeout_per_problem"] = {tid: o.timeout_of(tid) for tid in
                                            sorted({pr.task_id for pr in o.inputs.load(path).distinct_problems})}
            if o.shard is not None:
                m["shard"] = self._shard_info(path, grading)
            expected = self.expected[path]
            self.metrics[path] = m
            err = write_metrics(output_paths(path, o.settings.results, o.shard)[1], m)
            if err:
                self.messages.append(err)
            if xml is not None:
                suffix = "" if len(self.files) == 1 else f"[{o.labels[path]}]"
                for k, v in junit_suite_properties(m).items():
                    xml.add_global_property(k + suffix, v)
            if not m["complete"] and not o.partial and not interrupted:
                problems.append(f"{o.labels[path]}: {m['samples']} rows for {expected} samples at the end of a run "
                                "over the whole file")
        for p in problems:
            self.messages.append(f"ERROR: results incomplete: {p}")
        if not interrupted and ((o.resume and exitstatus == pytest.ExitCode.OK)
                                or ((o.resume or o.shard) and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED)):
            # the exit status of the whole file, as an uninterrupted run's (the kept rows' failures count too); a
            # shard with no samples (more shards than problems) is not an error
            failed = any(m["passed"] < m["samples"] for m in self.metrics.values())
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
        if problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if (o.fail_under or cp.gate_ok is not None) and exitstatus in (
                pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            ok = cp.gate_ok is not False
            self.messages += cp.gate
            for path, m in self.metrics.items():
                label = o.labels[path]
                checks = [(m["complete"], f"results complete ({m['samples']} rows for {m['expected_samples']} "
                                          "samples)"),
                          (not m["infra_errors"], f"no infra error ({m['infra_errors']})")]
                checks += [threshold_check(m, name, threshold) for name, threshold in o.fail_under]
                for good, msg in checks:
                    ok &= bool(good)
                    self.messages.append(f"fail-under {'ok' if good else 'FAILED'}: {label}: {msg}")
            self.messages.append(f"gate: {'PASSED' if ok else 'FAILED'}")
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        yield  # pytest's own sections first (the short test summary among them): ours is the last
        if not self.metrics:
            return
        tr = terminalreporter
        self._progress(final=True)
        chars = (config.option.reportchars or "").lower()
        if self.failed and not self.verbose and "f" not in chars and "a" not in chars:
            tr.write_sep("=", "failed samples by error type (first few; all in the results files, or -rA)")
            for line in failed_lines(self.failed):
                tr.write_line(line)
        tr.write_sep("=", "pytest-heval summary")
        tr.write_line(f"rustc: {self.opts.toolchain.version}   sandbox: {self.opts.sandbox.kind}   k: {self.opts.ks}")
        if self.opts.problems_note:
            tr.write_line(self.opts.problems_note)
        for path, m in self.metrics.items():
            for line in summary_lines(m, self.files[path].error):
                tr.write_line(line)
        for line in self.checkpoint_lines:
            tr.write_line(line)
        for msg in self.messages:
            tr.write_line(msg)
