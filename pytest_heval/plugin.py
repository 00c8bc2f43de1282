"""pytest hooks and options: the thin glue between pytest and the engine.

Nothing here judges or computes: workers call :class:`~pytest_heval.execute.Executor`, the
controller records rows with :mod:`~pytest_heval.results` and aggregates with :mod:`~pytest_heval.metrics`.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

from . import __version__
from .build import Toolchain, find_toolchain, flags_description
from .collect import SampleItem, SamplesFile
from .errors import HevalError, InputError
from .execute import ERROR_TYPES, Executor, Limits, infra_verdict
from .inputs import Inputs, check_files_exist, samples_paths
from .jsonl import is_jsonl_path
from .metrics import DEFAULT_K, compute, parse_ks, threshold_check
from .plan import DEFAULT_BATCH, Plan
from .program import assemble
from .report import junit_suite_properties, summary_lines
from .results import ResultsWriter, output_paths, result_row, write_metrics
from .results import VerdictCache
from .sandbox import KINDS, Sandbox, get_sandbox

# option name -> (ini key, type, default, help)
SETTINGS: Dict[str, Tuple[str, Any, Any, str]] = {
    "heval_sandbox": ("heval_sandbox", str, "auto", "sandbox: auto (firejail, else bwrap), firejail, bwrap or none"),
    "heval_timeout": ("heval_timeout", float, 10.0, "seconds a sample's tests may run"),
    "heval_compile_timeout": ("heval_compile_timeout", float, 30.0, "seconds a sample may take to compile"),
    "heval_memory": ("heval_memory", int, 4096, "MiB of address space per process"),
    "heval_output_limit": ("heval_output_limit", float, 8.0, "MiB of stdout+stderr before a run is killed"),
    "heval_k": ("heval_k", str, ",".join(map(str, DEFAULT_K)), "the k of pass@k, comma-separated"),
    "heval_edition": ("heval_edition", str, None, "Rust edition for every problem (default: the problem's own)"),
    "heval_results": ("heval_results", str, None, "directory for the results/metrics files (default: next to the samples)"),
    "heval_batch": ("heval_batch", int, DEFAULT_BATCH, "distinct programs compiled per rustc (1: one sample per rustc)"),
    "heval_cache": ("heval_cache", str, None, "directory of a verdict cache kept across runs (default: none)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("heval", "pytest-heval: grade LLM-written Rust samples")
    g.addoption("--heval", action="store_true", default=False,
                help="grade the .jsonl/.jsonl.gz samples files named on the command line")
    g.addoption("--heval-problems", action="append", default=[], metavar="PATH",
                help="problem file (human-eval, HumanEval-X/-Pack or MultiPL-E format); repeatable")
    g.addoption("--heval-fail-under", action="append", default=[], metavar="METRIC=VALUE",
                help="exit 1 unless METRIC (pass@k or compile_rate) >= VALUE; repeatable; decides the exit status")
    for opt, (ini, typ, default, help_) in SETTINGS.items():
        flag = "--" + opt.replace("_", "-")
        choices = KINDS if opt == "heval_sandbox" else None
        g.addoption(flag, dest=opt, default=None, choices=choices, help=f"{help_} (ini: {ini}; default {default})")
        parser.addini(ini, help_, default=None)


def _setting(config: pytest.Config, opt: str) -> Any:
    ini, typ, default, _ = SETTINGS[opt]
    value = config.getoption(opt)
    if value is None:
        value = config.getini(ini) or None
    if value is None:
        return default
    try:
        return typ(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"--{opt.replace('_', '-')}: {value!r} is not a valid {typ.__name__}") from None


def _parse_fail_under(items: List[str]) -> List[Tuple[str, float]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            threshold = float(value)
        except ValueError:
            threshold = None
        if not sep or threshold is None or not (name == "compile_rate" or
                                                 (name.startswith("pass@") and name[5:].isdigit())):
            raise pytest.UsageError(f"--heval-fail-under {item!r}: want METRIC=VALUE, METRIC being pass@k or "
                                    "compile_rate, e.g. pass@1=0.40")
        out.append((name, threshold))
    return out


def _fmt_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _n_workers(config: pytest.Config) -> int:
    env = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if env and env.isdigit():
        return int(env)
    n = config.getoption("numprocesses", None)
    if isinstance(n, int) and n > 0:
        return n
    if config.getoption("tx", None):  # --tx without -n (ssh=... gateways): as many workers as xdist starts
        from xdist.workermanage import parse_tx_spec_config

        return len(parse_tx_spec_config(config))
    return 1


def _worker_index() -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0


class HevalSession:
    """Per-process state of a --heval run; registered as a plugin only when --heval is given."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        if getattr(config.option, "tbstyle", None) == "auto":
            # every sample's failure is in the results file and the short summary: a FAILURES section
            # of thousands of samples helps nobody (and pytest's cost for it is failures x reports); --tb shows it
            config.option.tbstyle = "no"
        self.started = time.time()
        self.ks = self._ks()
        self.fail_under = _parse_fail_under(config.getoption("heval_fail_under"))
        for name, _ in self.fail_under:
            if name.startswith("pass@") and int(name[5:]) not in self.ks:
                self.ks = sorted(set(self.ks) | {int(name[5:])})
        self.limits = Limits(
            timeout=_setting(config, "heval_timeout"),
            compile_timeout=_setting(config, "heval_compile_timeout"),
            memory_mb=_setting(config, "heval_memory"),
            output_limit=int(_setting(config, "heval_output_limit") * 1024 * 1024),
        )
        self.edition = _setting(config, "heval_edition")
        self.results_dir = _setting(config, "heval_results")
        problem_paths = list(config.getoption("heval_problems"))
        self.samples_paths = samples_paths(config.args)
        missing = check_files_exist(problem_paths, "problem file") or check_files_exist(self.samples_paths, "samples file")
        if missing:
            raise pytest.UsageError(missing)
        try:
            self.toolchain: Toolchain = find_toolchain()
            self.sandbox: Sandbox = get_sandbox(_setting(config, "heval_sandbox"))
            self.inputs = Inputs(problem_paths)
            if not self.is_worker:
                # validate every input on the controller, before anything is compiled
                for p in self.samples_paths:
                    self.inputs.load(p)
        except HevalError as e:
            raise pytest.UsageError(str(e)) from None
        self.batch = max(1, _setting(config, "heval_batch"))
        self._plan: Optional[Plan] = None
        self.selected: Optional[set] = None  # (path, index) of the items this process will run
        self.built: Dict[str, Dict[str, Any]] = {}  # program key -> build (binary or failed verdict)
        self.verdicts: Dict[str, Dict[str, Any]] = {}  # program key -> verdict: duplicates reuse it
        self.dir_refs: Dict[str, int] = {}
        cache_dir = _setting(config, "heval_cache")
        self.cache = VerdictCache(cache_dir, self.cache_salt()) if cache_dir else None
        self.executor: Optional[Executor] = None
        self.writers: Dict[str, ResultsWriter] = {}
        self.metrics: Dict[str, Dict[str, Any]] = {}
        self.messages: List[str] = []

    def _ks(self) -> List[int]:
        try:
            return parse_ks(_setting(self.config, "heval_k"))
        except ValueError as e:
            raise pytest.UsageError(str(e)) from None

    # ---- worker side -----------------------------------------------------------------
    def backstop_timeout(self) -> Optional[float]:
        """pytest-timeout's per-item backstop, unless the user set a timeout of their own."""
        if not self.config.pluginmanager.hasplugin("timeout"):
            return None
        if self.config.getoption("timeout", None) or self.config.getini("timeout"):
            return None
        return self.limits.compile_timeout + self.limits.timeout + 60.0

    def program(self, ref: Tuple[str, int]):
        sample, problem = self.inputs.get(*ref)
        return assemble(problem, sample.completion, self.edition, self.toolchain.unsafe_attrs)

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            refs = []
            for path in self.samples_paths:
                for s in self.inputs.load(path).samples:
                    refs.append(((path, s.index), self.program((path, s.index)).key))
            self._plan = Plan(refs, self.batch, _n_workers(self.config))
        return self._plan

    def judge(self, path: str, index: int) -> Dict[str, Any]:
        """The verdict of one sample: its batch is built on first use, a duplicate reuses its twin's verdict."""
        ref = (os.path.abspath(path), index)
        plan = self.plan
        key = plan.key_of[ref]
        if key in self.verdicts:
            v = dict(self.verdicts[key])
            v.update(duration_s=0.0, reused=True)
            return v
        if self.cache is not None:
            v = self.cache.get(key)
            if v is not None:
                self.verdicts[key] = v
                v = dict(v)
                v.update(duration_s=0.0, cached=True)
                return v
        if self.executor is None:
            self.executor = Executor(self.toolchain, self.sandbox, self.limits, worker=_worker_index())
        t0 = time.monotonic()
        if key not in self.built:
            wanted = [k for k in plan.keys_of_scope[plan.scope_of_key[key]]
                      if k not in self.verdicts and k not in self.built
                      and (self.selected is None or k == key or plan.first_ref[k] in self.selected)]
            try:
                self.executor.start()
                built = self.executor.build([self.program(plan.first_ref[k]) for k in wanted])
            except Exception as e:  # the sandbox or toolchain failed: the harness's fault
                built = {k: {"verdict": infra_verdict(f"build failed: {e}")} for k in wanted}
            for b in built.values():
                if "dir" in b:
                    self.dir_refs[b["dir"]] = self.dir_refs.get(b["dir"], 0) + 1
            self.built.update(built)
        b = self.built.pop(key)
        try:
            v = self.executor.run_built(self.program(ref), b)
        except Exception as e:  # never let one sample break the worker: the harness's fault, said so
            v = infra_verdict(f"{type(e).__name__}: {e}")
        if "dir" in b:
            self.dir_refs[b["dir"]] -= 1
            if self.dir_refs[b["dir"]] == 0:
                del self.dir_refs[b["dir"]]
                shutil.rmtree(b["dir"], ignore_errors=True)
        v["duration_s"] = round(time.monotonic() - t0 + v.get("compile_s", 0.0) * (b.get("shared", 1) > 1), 4)
        if v.get("error_type") != "infra_error":
            self.verdicts[key] = v
            if self.cache is not None:
                self.cache.put(key, v)
        return v

    def cache_salt(self) -> str:
        """What else decides a verdict: the toolchain, the flags, the sandbox and the limits."""
        lim = self.limits
        return "|".join(map(str, (self.toolchain.version, flags_description(), self.sandbox.kind, lim.timeout,
                                  lim.compile_timeout, lim.memory_mb, lim.output_limit, __version__)))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        self.selected = {(os.path.abspath(str(i.path)), i.index) for i in items if isinstance(i, SampleItem)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        """Send each batch (and every duplicate of its programs) to one worker, as a whole."""
        from xdist.scheduler import LoadScopeScheduling

        heval = self

        class BatchScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                loc = heval._locate(nodeid)
                if loc is None or loc not in heval.plan.key_of:
                    return nodeid
                return f"heval-batch-{heval.plan.scope(loc)}"

        return BatchScheduling(config, log)

    @pytest.hookimpl
    def pytest_collect_file(self, file_path, parent):
        if is_jsonl_path(file_path) and parent.session.isinitpath(file_path):
            f = SamplesFile.from_parent(parent, path=file_path)
            f.heval = self
            return f
        return None

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
            rep.heval = {"path": path, "file": self.samples_paths.index(path), "index": item.index, "verdict": v}

    def pytest_report_teststatus(self, report, config):
        h = getattr(report, "heval", None)
        if h is None or report.when != "call" or not report.failed:
            return None
        et = h["verdict"].get("error_type") or "failed"
        letter = {"compile_error": "C", "compile_timeout": "C", "timeout": "T", "infra_error": "I"}.get(et, "F")
        return "failed", letter, f"FAILED [{et}]"

    # ---- controller side ----------------------------------------------------------------
    def pytest_sessionstart(self, session):
        if self.is_worker:
            return
        seen: Dict[str, str] = {}
        for p in self.samples_paths:
            res, _ = output_paths(p, self.results_dir)
            if res in seen:
                raise pytest.UsageError(f"{seen[res]} and {p} would both write {res}: give them different names "
                                        "or drop --heval-results")
            seen[res] = p
            try:
                self.writers[p] = ResultsWriter(res)
            except OSError as e:
                raise pytest.UsageError(f"cannot create the results file {res}: {e.strerror or e}") from None

    def _locate(self, nodeid: str) -> Optional[Tuple[str, int]]:
        """(samples path, index) of a node id, for reports that carry no data (a crashed worker's)."""
        file_part, sep, name = nodeid.partition("::")
        if not sep or "#" not in name:
            return None
        idx = name.rsplit("#", 1)[1]
        if not idx.isdigit():
            return None
        full = os.path.abspath(os.path.join(str(self.config.rootpath), file_part))
        if full in self.samples_paths:
            return full, int(idx)
        for p in self.samples_paths:
            if os.path.basename(p) == os.path.basename(file_part):
                return p, int(idx)
        return None

    def pytest_runtest_logreport(self, report):
        if self.is_worker:
            return
        h = getattr(report, "heval", None)
        if h is not None:
            self._record(self.samples_paths[h["file"]], h["index"], h["verdict"])
        elif report.failed and report.when != "teardown":
            loc = self._locate(report.nodeid)
            if loc is not None:
                why = "the worker running it crashed" if report.when == "???" else f"{report.when} failed"
                self._record(loc[0], loc[1], infra_verdict(f"{why}: {str(report.longrepr)[-500:]}"))

    def _record(self, path: str, index: int, v: Dict[str, Any]) -> None:
        w = self.writers.get(path)
        if w is None:
            return
        sample, _ = self.inputs.get(path, index)
        w.write(result_row(sample.row, index, v))
        self._progress()

    PROGRESS_EVERY_S = 15.0

    def _progress(self) -> None:
        """Every PROGRESS_EVERY_S seconds, one line: samples done, samples/min, ETA (controller only)."""
        now = time.time()
        if now - getattr(self, "_last_progress", self.started) < self.PROGRESS_EVERY_S:
            return
        self._last_progress = now
        done = sum(len(w.rows) for w in self.writers.values())
        total = self._expected_total()
        rate = done / (now - self.started) * 60 if now > self.started else 0.0
        eta = (total - done) / rate * 60 if rate > 0 else float("inf")
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.ensure_newline()
            tr.write_line(f"[heval] {done}/{total} samples, {rate:,.0f}/min, ETA {_fmt_duration(eta)}")

    def _expected_total(self) -> int:
        if self.selected is not None:
            return len(self.selected)
        return sum(len(self.inputs.load(p).samples) for p in self.samples_paths)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.executor is not None:
            self.executor.close()
            self.executor = None
        if self.is_worker:
            return
        ended = time.time()
        wall = ended - self.started
        # the junitxml plugin's LogXML (record_testsuite_property does not work under xdist)
        xml = next((p for p in self.config.pluginmanager.get_plugins() if hasattr(p, "add_global_property")), None)
        for path, w in self.writers.items():
            rows = w.finish()
            if w.error:
                self.messages.append(w.error)
            m = compute(rows, self.ks)
            m.update({
                "samples_file": path,
                "results_file": w.path,
                "expected_samples": len(self.inputs.load(path).samples),
                "rustc": self.toolchain.version,
                "rustc_flags": flags_description(),
                "sandbox": self.sandbox.kind,
                "limits": {"timeout_s": self.limits.timeout, "compile_timeout_s": self.limits.compile_timeout,
                           "memory_mib": self.limits.memory_mb, "output_limit_bytes": self.limits.output_limit},
                "edition_override": self.edition,
                "plugin_version": __version__,
                "started": datetime.datetime.fromtimestamp(self.started, datetime.timezone.utc).isoformat(),
                "ended": datetime.datetime.fromtimestamp(ended, datetime.timezone.utc).isoformat(),
                "wall_time_s": round(wall, 3),
                "samples_per_minute": round(len(rows) / wall * 60, 1) if wall > 0 else None,
            })
            self.metrics[path] = m
            err = write_metrics(output_paths(path, self.results_dir)[1], m)
            if err:
                self.messages.append(err)
            if xml is not None:
                suffix = "" if len(self.writers) == 1 else f"[{os.path.basename(path)}]"
                for k, v in junit_suite_properties(m).items():
                    xml.add_global_property(k + suffix, v)
        if self.fail_under and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                              pytest.ExitCode.NO_TESTS_COLLECTED):
            ok = True
            for path, m in self.metrics.items():
                for name, threshold in self.fail_under:
                    good, msg = threshold_check(m, name, threshold)
                    ok &= good
                    self.messages.append(f"fail-under {'ok' if good else 'FAILED'}: {os.path.basename(path)}: {msg}")
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if self.is_worker or not self.metrics:
            return
        tr = terminalreporter
        tr.write_sep("=", "pytest-heval summary")
        tr.write_line(f"rustc: {self.toolchain.version}   sandbox: {self.sandbox.kind}   k: {self.ks}")
        for path, m in self.metrics.items():
            for line in summary_lines(path, m, m["results_file"], m["expected_samples"], self.writers[path].error):
                tr.write_line(line)
        for msg in self.messages:
            tr.write_line(msg)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("heval", False):
        return
    config.pluginmanager.register(HevalSession(config), "heval-session")
    opt = config.option
    if getattr(opt, "tx", None) and not getattr(opt, "numprocesses", None) and getattr(opt, "maxworkerrestart", 0) is None:
        # xdist bounds worker restarts only under -n (4 per worker): with --tx alone, a host that cannot start
        # a worker (no rustc, no sandbox, no pytest-heval: a usage error there) would be replaced forever
        opt.maxworkerrestart = str(4 * _n_workers(config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> Optional[int]:
    """``-n auto`` under --heval: min(cpus - 2, available GiB / 4), at least 1 (the runbook's formula)."""
    if not config.getoption("heval", False):
        return None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count() or 1
    avail_gib = _available_gib()
    return max(1, min(cpus - 2, int(avail_gib // 4)))


def _available_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 4.0
