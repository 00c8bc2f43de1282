"""The command line of a --heval run: the options (built from the settings table), and what is read from them
once per process (:class:`RunOptions`): settings, inputs, toolchain, sandbox, thresholds."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Dict, List, Optional, Tuple

import pytest

from ..crates import NO_CRATES, build_crates, crates_used
from ..datasets import no_problem_hint, problem_files
from ..errors import HevalError, InputError, SetupError
from ..inputs import Inputs, check_files_exist, samples_paths
from ..report import checkpoints
from ..report.checkpoints import CheckpointOptions
from ..sandbox import Sandbox, get_sandbox
from ..lint import find_clippy
from ..settings import Settings, boolean
from ..shards import Shard, parse_shard
from ..timeouts import problem_timeouts
from ..toolchain import Toolchain, find_toolchain

# metrics a --heval-fail-under threshold may name besides pass@k
GATED_RATES = ("compile_rate", "clippy_pass_rate")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("heval", "pytest-heval: grade LLM-written Rust samples")
    g.addoption("--heval", action="store_true", default=False,
                help="grade the .jsonl/.jsonl.gz samples files named on the command line")
    g.addoption("--heval-problems", action="append", default=[], metavar="PATH|NAME",
                help="problem file (human-eval, HumanEval-X/-Pack or MultiPL-E format) or known dataset name "
                     "(python -m pytest_heval datasets list); repeatable; default: the one cached dataset "
                     "holding the samples' task ids")
    g.addoption("--heval-samples", action="append", default=[], metavar="PATH",
                help="a samples file of any name, or a directory of .jsonl/.jsonl.gz samples files; repeatable")
    g.addoption("--heval-label", action="append", default=[], metavar="LABEL",
                help="a label per samples file, in order (default: the shortest path suffix that tells them apart)")
    g.addoption("--heval-fail-under", action="append", default=[], metavar="METRIC=VALUE",
                help="exit 1 unless METRIC (pass@k, compile_rate or clippy_pass_rate) >= VALUE, the results are complete and no "
                     "infra error remains; repeatable; decides the exit status")
    g.addoption("--heval-compare-to", default=None, metavar="OLD_RESULTS",
                help="compare with an old run's results file: change in pass@1 with a paired-bootstrap 95%% CI, "
                     "problems that got worse/better, exact sign test (McNemar's when n = 1)")
    g.addoption("--heval-fail-if-regressed", action="store_true", default=False,
                help="exit 1 iff the run is significantly worse than --heval-compare-to (at --heval-alpha); "
                     "decides the exit status")
    g.addoption("--heval-alpha", type=float, default=0.05, metavar="ALPHA",
                help="significance level of --heval-fail-if-regressed (default 0.05)")
    g.addoption("--heval-per-problem", action="store_true", default=False,
                help="print a problem x samples-file table of passed/judged")
    g.addoption("--heval-html", default=None, metavar="PATH",
                help="write one self-contained HTML report (charts, heat map, every sample, the comparison)")
    g.addoption("--heval-resume", action="store_true", default=False,
                help="keep the finished rows of the results file an earlier (killed) run left, if it graded the "
                     "same samples the same way, and grade only the rest (infra_error rows again)")
    g.addoption("--heval-shard", default=None, metavar="I/N",
                help="grade shard I of N: whole problems, about 1/N of the samples; results go to "
                     "<samples>.shard-I-of-N_results.jsonl; join the N with python -m pytest_heval merge")
    for f in Settings.table():
        ini = "heval_" + f.name
        help_ = f.metadata["help"]
        # an on/off setting is a bare flag on the command line (its ini key takes true/false)
        kw = dict(action="store_const", const="true") if f.metadata["type"] is boolean else dict(
            choices=f.metadata["choices"])
        g.addoption(Settings.option(f.name), dest=ini, default=None,
                    help=f"{help_} (ini: {ini}; default {f.default})", **kw)
        parser.addini(ini, help_, default=None)


def parse_fail_under(items: List[str]) -> List[Tuple[str, float]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            threshold = float(value)
        except ValueError:
            threshold = None
        if not sep or threshold is None or not (name in GATED_RATES or
                                                 (name.startswith("pass@") and name[5:].isdigit())):
            raise pytest.UsageError(f"--heval-fail-under {item!r}: want METRIC=VALUE, METRIC being pass@k, "
                                    f"{' or '.join(GATED_RATES)}, e.g. pass@1=0.40")
        if not 0.0 <= threshold <= 1.0:
            raise pytest.UsageError(f"--heval-fail-under {item!r}: {name} is a rate, the threshold must be "
                                    "between 0 and 1")
        out.append((name, threshold))
    return out


def labels(paths: List[str], given: List[str]) -> Dict[str, str]:
    """A label per samples file: ``--heval-label`` in order, else the shortest path suffix that tells it apart."""
    if given:
        if len(given) != len(paths):
            raise pytest.UsageError(f"--heval-label given {len(given)} times for {len(paths)} samples files: "
                                    "give one per samples file, in order")
        if len(set(given)) != len(given):
            raise pytest.UsageError("--heval-label: the labels must differ")
        return dict(zip(paths, given))
    return dict(zip(paths, checkpoints.labels(paths)))


def partial_selection(config: pytest.Config) -> bool:
    """Whether this run may grade only part of its samples files (-k, -m, --lf, --deselect, node ids)."""
    o = config.option
    return bool(getattr(o, "keyword", "") or getattr(o, "markexpr", "") or getattr(o, "lf", False)
                or getattr(o, "deselect", None) or any("::" in str(a) for a in config.args))


def check_rootdir(config: pytest.Config) -> None:
    """pytest chooses its rootdir before plugins load, taking the value of ``--heval-problems PATH`` (space form)
    for a test path: a path elsewhere moves rootdir (node ids, the cache dir, the ini file). Refuse that, saying the
    form that works."""
    try:
        from _pytest.config.findpaths import determine_setup

        rootdir, _, _, _ = determine_setup(
            inifile=config.getoption("inifilename", None), override_ini=config.getoption("override_ini", None),
            args=[str(a) for a in config.args], rootdir_cmd_arg=config.getoption("rootdir", None) or None,
            invocation_dir=config.invocation_params.dir)
    except Exception:  # another pytest: no check rather than a wrong one
        return
    if os.path.abspath(str(rootdir)) != os.path.abspath(str(config.rootpath)):
        raise pytest.UsageError(
            f"pytest took the value of a --heval-* path option for a test path and chose rootdir {config.rootpath} "
            f"instead of {rootdir}: write those options with '=' (e.g. --heval-problems=/abs/problems.jsonl)")


def _prebuild_crates(inputs: Inputs, paths: List[str], settings: Settings, toolchain: Toolchain) -> None:
    """Build the dataset crates now (once: later runs find them in the cache) when a problem names one: before
    any xdist worker starts, so no build runs under a per-item timeout, and crates that cannot be built are a usage
    error, not a run of infra errors. (A completion naming a crate its problem does not gets them on first need.)"""
    if settings.crates == NO_CRATES:
        return
    if settings.crates is not None and not os.path.isdir(settings.crates):
        raise SetupError(f"--heval-crates: {settings.crates} is not a directory (want unpacked crate sources, "
                         f"like /usr/share/cargo/registry or what `cargo vendor` writes, or '{NO_CRATES}')")
    texts = {(pr.task_id, pr.head, pr.test) for p in paths for pr in inputs.load(p).distinct_problems}
    naming = sorted({t for t, head, test in texts if crates_used(head) or crates_used(test)})
    if naming:
        try:
            build_crates(toolchain.rustc, settings.crates,
                         log=lambda msg: print(f"[heval] {msg}", file=sys.stderr, flush=True))
        except SetupError as e:
            raise SetupError(f"{len(naming)} problem(s) import dataset crates ({', '.join(naming[:3])}"
                             f"{', ...' if len(naming) > 3 else ''}): {e}") from None


@dataclasses.dataclass
class RunOptions:
    settings: Settings
    samples_paths: List[str]  # absolute
    labels: Dict[str, str]  # samples path -> label
    inputs: Inputs
    toolchain: Toolchain
    sandbox: Sandbox
    ks: List[int]
    fail_under: List[Tuple[str, float]]
    backstop: Optional[float]  # pytest-timeout's per-item timeout for heval items (None: pytest-timeout absent)
    partial: bool  # the selection may leave samples out
    notes: List[str]  # said once at the start and in the summary
    problems_note: Optional[str] = None  # which known dataset is used, for the summary
    checkpoints: CheckpointOptions = dataclasses.field(default_factory=CheckpointOptions)
    resume: bool = False  # --heval-resume
    shard: Optional[Shard] = None  # --heval-shard I/N
    timeouts: Optional[Dict[str, float]] = None  # --heval-timeout auto: task_id -> CPU limit (else None)

    def timeout_of(self, task_id: str) -> float:
        """The CPU limit a problem's runs get."""
        return (self.timeouts or {}).get(task_id, self.settings.limits.timeout)

    @classmethod
    def from_config(cls, config: pytest.Config, validate_inputs: bool) -> "RunOptions":
        """Read and check everything (``validate_inputs``: load every samples file now, on the controller, so bad
        input is a usage error before anything is compiled)."""
        def lookup(name: str):
            value = config.getoption("heval_" + name)
            return value if value is not None else (config.getini("heval_" + name) or None)

        problem_args = list(config.getoption("heval_problems"))
        named = list(config.getoption("heval_samples"))
        # without paths on the command line pytest collects its testpaths or the current directory: those are not
        # samples files the user named
        given = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
        try:
            paths = samples_paths(given, named)
        except HevalError as e:
            raise pytest.UsageError(str(e)) from None
        if not paths:
            raise pytest.UsageError("--heval: no samples file given: name .jsonl/.jsonl.gz files or directories of "
                                    "them on the command line, or use --heval-samples PATH")
        missing = check_files_exist([p for p in named if not os.path.isdir(p)] + paths, "samples file")
        if missing:
            raise pytest.UsageError(missing)
        for p in paths:  # --heval-samples files need not be named on the command line: collect them too
            if not any(os.path.abspath(str(a).split("::", 1)[0]) == p for a in config.args) and \
                    not any(os.path.isdir(str(a)) and os.path.dirname(p) == os.path.abspath(str(a)) for a in config.args):
                config.args.append(p)
        check_rootdir(config)
        workerinput = getattr(config, "workerinput", {})
        try:
            if "heval_problem_files" in workerinput:  # the controller resolved names and guessed already
                problem_paths, problems_note = list(workerinput["heval_problem_files"]), None
            else:
                problem_paths, problems_note = problem_files(problem_args, paths)
        except HevalError as e:
            raise pytest.UsageError(str(e)) from None
        fail_under = parse_fail_under(config.getoption("heval_fail_under"))
        try:
            shard = parse_shard(config.getoption("heval_shard")) if config.getoption("heval_shard") else None
        except HevalError as e:
            raise pytest.UsageError(str(e)) from None
        checkpoints = CheckpointOptions(
            compare_to=config.getoption("heval_compare_to"), fail_if_regressed=config.getoption("heval_fail_if_regressed"),
            alpha=config.getoption("heval_alpha"), per_problem=config.getoption("heval_per_problem"),
            html=config.getoption("heval_html"))
        try:
            if validate_inputs:  # the controller: read the old run now, so a bad file is a usage error
                checkpoints.check()
            settings = Settings.from_values(lookup)
            ks = settings.ks
            toolchain = find_toolchain()
            if settings.clippy:
                find_clippy(toolchain)
            sandbox = get_sandbox(settings.sandbox)
            inputs = Inputs(problem_paths)
            if validate_inputs:
                for p in paths:
                    inputs.load(p)
                _prebuild_crates(inputs, paths, settings, toolchain)
            timeouts = None
            if settings.auto_timeout:  # calibrated once, on the controller; the workers get the limits
                if "heval_timeouts" in workerinput:
                    timeouts = dict(workerinput["heval_timeouts"])
                elif config.option.collectonly:  # --co grades nothing: measure nothing (every problem: fixed limit)
                    timeouts = {}
                else:
                    problems = {pr.task_id: pr for p in paths for pr in inputs.load(p).distinct_problems}
                    timeouts = problem_timeouts(
                        list(problems.values()), settings, toolchain, sandbox,
                        log=lambda msg: print(f"[heval] {msg}", file=sys.stderr, flush=True))
        except HevalError as e:
            msg = str(e)
            if not problem_paths and isinstance(e, InputError) and e.field == "task_id":
                msg += "\n" + no_problem_hint()
            raise pytest.UsageError(msg) from None
        if not settings.clippy and any(name == "clippy_pass_rate" for name, _ in fail_under):
            raise pytest.UsageError("--heval-fail-under clippy_pass_rate=...: needs --heval-clippy "
                                    "(without it no sample is linted)")
        for name, _ in fail_under:  # a gated pass@k is always computed
            if name.startswith("pass@") and int(name[5:]) not in ks:
                ks = sorted(set(ks) | {int(name[5:])})
        backstop, notes = None, []
        if config.pluginmanager.hasplugin("timeout"):
            lim = settings.limits
            longest = max([lim.timeout, *(timeouts or {}).values()])
            needed = settings.compile_timeout + dataclasses.replace(lim, timeout=longest).wall + 60.0
            user = config.getoption("timeout", None) or config.getini("timeout")
            try:
                user = float(user) if user else None
            except ValueError:
                user = None
            backstop = max(needed, user or 0.0)
            if user is not None and user < needed:
                notes.append(f"pytest-timeout's timeout ({user:g} s) is below what a sample may need (compile "
                             f"{settings.compile_timeout:g} s + run {needed - settings.compile_timeout - 60:g} s "
                             "(wall clock) + 60 s): heval items use "
                             f"{needed:g} s")
        return cls(settings, paths, labels(paths, list(config.getoption("heval_label"))), inputs, toolchain, sandbox,
                   ks, fail_under, backstop, partial_selection(config), notes, problems_note, checkpoints,
                   resume=bool(config.getoption("heval_resume")), shard=shard, timeouts=timeouts)
