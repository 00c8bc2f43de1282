"""The command line of a --heval run: the options (built from the settings table), and what is read from them
once per process (:class:`RunOptions`): settings, inputs, toolchain, sandbox, thresholds."""

from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Tuple

import pytest

from ..errors import HevalError
from ..inputs import Inputs, check_files_exist, samples_paths
from ..sandbox import Sandbox, get_sandbox
from ..lint import find_clippy
from ..settings import Settings, boolean
from ..toolchain import Toolchain, find_toolchain

# metrics a --heval-fail-under threshold may name besides pass@k
GATED_RATES = ("compile_rate", "clippy_pass_rate")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("heval", "pytest-heval: grade LLM-written Rust samples")
    g.addoption("--heval", action="store_true", default=False,
                help="grade the .jsonl/.jsonl.gz samples files named on the command line")
    g.addoption("--heval-problems", action="append", default=[], metavar="PATH",
                help="problem file (human-eval, HumanEval-X/-Pack or MultiPL-E format); repeatable")
    g.addoption("--heval-fail-under", action="append", default=[], metavar="METRIC=VALUE",
                help="exit 1 unless METRIC (pass@k, compile_rate or clippy_pass_rate) >= VALUE; repeatable; "
                     "decides the exit status")
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
        out.append((name, threshold))
    return out


@dataclasses.dataclass
class RunOptions:
    settings: Settings
    samples_paths: List[str]  # absolute
    inputs: Inputs
    toolchain: Toolchain
    sandbox: Sandbox
    ks: List[int]
    fail_under: List[Tuple[str, float]]
    backstop: Optional[float]  # pytest-timeout's per-item timeout, unless the user set their own

    @classmethod
    def from_config(cls, config: pytest.Config, validate_inputs: bool) -> "RunOptions":
        """Read and check everything (``validate_inputs``: load every samples file now, on the controller, so bad
        input is a usage error before anything is compiled)."""
        def lookup(name: str):
            value = config.getoption("heval_" + name)
            return value if value is not None else (config.getini("heval_" + name) or None)

        problem_paths = list(config.getoption("heval_problems"))
        paths = samples_paths(config.args)
        missing = check_files_exist(problem_paths, "problem file") or check_files_exist(paths, "samples file")
        if missing:
            raise pytest.UsageError(missing)
        fail_under = parse_fail_under(config.getoption("heval_fail_under"))
        try:
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
        except HevalError as e:
            raise pytest.UsageError(str(e)) from None
        if not settings.clippy and any(name == "clippy_pass_rate" for name, _ in fail_under):
            raise pytest.UsageError("--heval-fail-under clippy_pass_rate=...: needs --heval-clippy "
                                    "(without it no sample is linted)")
        for name, _ in fail_under:  # a gated pass@k is always computed
            if name.startswith("pass@") and int(name[5:]) not in ks:
                ks = sorted(set(ks) | {int(name[5:])})
        backstop = None
        if config.pluginmanager.hasplugin("timeout") and not (config.getoption("timeout", None) or
                                                              config.getini("timeout")):
            backstop = settings.compile_timeout + settings.timeout + 60.0
        return cls(settings, [os.path.abspath(p) for p in paths], inputs, toolchain, sandbox, ks, fail_under,
                   backstop)
