"""Linting with clippy (``--heval-clippy``): every sample that compiled, batched like builds, blamed only for its own
completion.

The toolchain's own ``clippy-driver`` (next to rustc in the sysroot) runs inside the sandbox with a build's limits.
The programs that were built as one batch crate are linted as one crate again (each sample a module in a file of its
own), the programs built alone are linted alone. ``--emit=metadata``: clippy type-checks and lints, it neither
generates code nor links. Its JSON diagnostics name each finding's file and byte range; a sample fails clippy only
for a finding that lies in its completion's text, never for one in the problem's prompt or tests (the program is
prompt + completion + separator + test, so where the completion lies is known: ``Program.completion_span``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .batch import Build, write_crate
from .errors import SetupError
from .program import Program
from .quality import main_free
from .sandbox import RunnerClient
from .settings import Limits
from .toolchain import Toolchain, diagnostics

CLIPPY = "clippy-driver"
_HARD_ERROR = re.compile(r"E\d{4}$")  # an error code, not a lint name


def clippy_path(rustc: str) -> str:
    """clippy-driver lives next to the real rustc, in the sysroot's bin directory (inside a jail too)."""
    return os.path.join(os.path.dirname(rustc), CLIPPY)


def find_clippy(toolchain: Toolchain) -> str:
    """The clippy-driver version line; a SetupError (a usage error) when there is no working clippy-driver."""
    path = clippy_path(toolchain.rustc)
    if not os.access(path, os.X_OK):
        raise SetupError(f"--heval-clippy: no clippy-driver next to rustc ({path} is missing): install it with "
                         "'rustup component add clippy' (for the toolchain of that rustc), or drop --heval-clippy")
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise SetupError(f"--heval-clippy: {path} does not work: {e}") from None
    return out.strip() or CLIPPY


def clippy_argv(clippy: str, src: str, out: str, style: str, edition: str, args: Sequence[str]) -> List[str]:
    """Lint as the build compiles (``--test`` for libtest style: without it the tests' cfg(test) module is gone and the
    completion's functions read as dead code), without code generation."""
    argv = [clippy, f"--edition={edition}"]
    if style == "libtest":
        argv.append("--test")
    return argv + ["--emit=metadata", "--error-format=json", *args, src, "-o", out]


@dataclasses.dataclass(frozen=True)
class Lint:
    """What clippy says about one sample: ``ok`` (None: clippy could not judge it), the names of the lints found in
    its completion, its share of the clippy run's time."""

    ok: Optional[bool]
    lints: Tuple[str, ...] = ()
    seconds: float = 0.0
    error: Optional[str] = None

    def fields(self) -> Dict[str, object]:
        out: Dict[str, object] = {"clippy_ok": self.ok, "clippy_lints": list(self.lints),
                                  "clippy_s": round(self.seconds, 4)}
        if self.error:
            out["clippy_error"] = self.error
        return out


def byte_span(text: str, span: Tuple[int, int]) -> Tuple[int, int]:
    """A character range of a source file as the byte range rustc reports (offsets in the file's bytes as written:
    a BOM and CRs count)."""
    start = len(text[:span[0]].encode("utf-8", "surrogatepass"))
    return start, start + len(text[span[0]:span[1]].encode("utf-8", "surrogatepass"))


def _places(span: dict):
    """(file base name, byte start, byte end) of a span and of each macro call site it was expanded from."""
    while span:
        base = os.path.basename(span.get("file_name", ""))
        if base.endswith(".rs"):
            yield base[:-3], span.get("byte_start", -1), span.get("byte_end", -1)
        span = (span.get("expansion") or {}).get("span")


def _overlaps(lo: int, hi: int, r: Tuple[int, int]) -> bool:
    return lo < r[1] and hi > r[0] if hi > lo else r[0] <= lo < r[1]


def findings(stderr: str, ranges: Dict[str, Tuple[int, int]]) -> Tuple[Dict[str, List[Tuple[str, str]]], bool]:
    """The (lint name, level) of each warning or error in rustc's JSON diagnostics, per file (base name without
    ``.rs``) whose byte range in ``ranges`` a primary span of it overlaps; and whether a hard error (not a lint)
    was reported anywhere."""
    found: Dict[str, List[Tuple[str, str]]] = {}
    hard = False
    for d in diagnostics(stderr):
        level = d.get("level")
        if level not in ("error", "warning"):
            continue
        code = (d.get("code") or {}).get("code")
        if level == "error" and code and _HARD_ERROR.match(code):
            hard = True
        name = code or (d.get("message") or "?").splitlines()[0]
        blamed = set()
        for span in d.get("spans") or ():
            if not span.get("is_primary"):
                continue
            for base, lo, hi in _places(span):
                if base in ranges and _overlaps(lo, hi, ranges[base]):
                    blamed.add(base)
        for base in blamed:
            found.setdefault(base, []).append((name, level))
    return found, hard


def judge(found: List[Tuple[str, str]], seconds: float) -> Lint:
    """A sample passes clippy when no finding in its completion is an error (``-D warnings`` makes every lint one)."""
    return Lint(not any(level == "error" for _, level in found), tuple(sorted({n for n, _ in found})), seconds)


class Linter:
    """Runs clippy-driver in the sandbox over programs that built, the way they were built."""

    def __init__(self, client: RunnerClient, limits: Limits, args: Sequence[str],
                 crate_args: Callable[[tuple], List[str]] = lambda crates: []):
        self.client = client
        self.limits = limits
        self.args = list(args)
        self.crate_args = crate_args  # the --extern arguments of the dataset crates a program names (as its build)
        self.batch_runs = 0  # clippy-driver runs over a batch crate
        self.alone_runs = 0  # clippy-driver runs over one program

    def lint(self, programs: Sequence[Program], builds: Dict[str, Build]) -> Dict[str, Lint]:
        """program key -> Lint, for each program whose build succeeded. A completion with a ``fn main`` of its own is
        linted alone: at the root of a crate ``main`` is the entry point (never dead code), in a module it is not."""
        batches: Dict[str, List[Program]] = {}
        alone: List[Program] = []
        for p in programs:
            b = builds.get(p.key)
            if b is None or not b.ok:
                continue
            # linted with the rest of its crate (main style: alone, as before: its module's main is the test's)
            if b.filter and p.style == "libtest" and main_free(p.body[slice(*p.completion_span)]):
                batches.setdefault(b.dir, []).append(p)
            else:
                alone.append(p)
        out: Dict[str, Lint] = {}
        for group in batches.values():
            if len(group) > 1:
                alone.extend(self._lint_batch(group, out))
            else:
                alone.extend(group)
        for p in alone:
            out[p.key] = self.lint_alone(p)
        return out

    def _run(self, d: str, src: str, style: str, edition: str, crates: tuple = ()) -> dict:
        argv = clippy_argv(clippy_path(self.client.rustc), src, os.path.join(d, "lint.rmeta"), style, edition,
                           [*self.args, *self.crate_args(crates)])
        return self.client.tool(self.limits, argv, d, full_stderr=True)

    def _lint_batch(self, group: List[Program], out: Dict[str, Lint]) -> List[Program]:
        """Lint ``group`` as one crate; returns the programs to lint alone (all of them when the run went wrong)."""
        self.batch_runs += 1
        d = self.client.new_dir()
        try:
            # `pub`: as at the root of a crate of its own, its `pub` items are reachable (not dead code)
            src, modules = write_crate(d, [p.body for p in group], pub=True)
            names = dict(zip(modules, group))
            ranges = {name: byte_span(p.body, p.completion_span) for name, p in names.items()}
            c = self._run(d, src, group[0].style, group[0].edition, group[0].crates)  # one batch: one crate set
        finally:
            shutil.rmtree(d, ignore_errors=True)
        if c.get("error") or c.get("timed_out") or c.get("signal") or c.get("rc") not in (0, 1):
            return group  # clippy broke or one of them hangs it: each alone
        found, hard = findings(c.get("stderr", ""), ranges)
        if hard:
            return group  # an error that is no lint may have stopped clippy before it linted every module
        share = c.get("duration", 0.0) / len(group)
        for name, p in names.items():
            out[p.key] = judge(found.get(name, []), share)
        return []

    def lint_alone(self, p: Program) -> Lint:
        """clippy-driver over one program (the whole of it, exit guard included), the way a standalone build is."""
        self.alone_runs += 1
        d = self.client.new_dir()
        try:
            src = os.path.join(d, "main.rs")
            with open(src, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(p.source)
            c = self._run(d, src, p.style, p.edition, p.crates)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        seconds = c.get("duration", 0.0)
        if c.get("timed_out"):  # the sample's code kept clippy past the build's time limit
            return Lint(False, (), seconds, f"clippy-driver timed out after {self.limits.compile_timeout} s")
        if c.get("error") or c.get("signal") or c.get("rc") not in (0, 1):
            why = c.get("error") or f"clippy-driver failed (exit {c.get('rc')}, signal {c.get('signal')})"
            return Lint(None, (), seconds, f"{why}: {c.get('stderr', '')[-400:]}".strip())
        found, hard = findings(c.get("stderr", ""), {"main": byte_span(p.body, p.completion_span)})
        if hard and not found.get("main"):  # an error outside the completion (the program built, so it is ours)
            return Lint(None, (), seconds, "clippy-driver stopped on an error outside the completion: "
                                           f"{c.get('stderr', '')[-400:]}".strip())
        return judge(found.get("main", []), seconds)
