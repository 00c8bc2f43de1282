"""Per-problem CPU limits (``--heval-timeout auto``), as EvalPlus sets them: a problem's limit is
max(``--heval-min-timeout``, ``--heval-timeout-factor`` x its canonical solution's CPU time).

The canonical solutions are graded once, through the engine's :class:`~pytest_heval.grader.Grader` like any sample
(same sandbox, flags, batching, CPU accounting), and their CPU times are cached per problem file + toolchain in
``$XDG_CACHE_HOME/pytest-heval/timeouts`` (``~/.cache``), so a later run measures nothing. A problem without a
canonical solution, or whose canonical solution does not pass, keeps the fixed limit (``Settings.limits.timeout``).
CPU times are cached, not limits: another factor or minimum needs no new calibration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import orjson

from .fsutil import atomic_write, cache_dir, file_sha256
from .grader import Grader
from .inputs.problems import Problem
from .program import assemble
from .program.forms import form_for
from .sandbox import Sandbox
from .settings import FIXED_TIMEOUT, Settings
from .toolchain import Toolchain, flags_description

Log = Callable[[str], None]


def cache_path(problem_file: str, settings: Settings, toolchain: Toolchain, sandbox_kind: str) -> str:
    """One cache file per problem file (its content) + toolchain (+ flags, sandbox, edition override)."""
    key = orjson.dumps([file_sha256(problem_file), toolchain.version, flags_description(), sandbox_kind,
                        settings.edition, settings.completion_form])
    return os.path.join(cache_dir("timeouts"), hashlib.sha256(key).hexdigest()[:32] + ".json")


def _canonical_program(problem: Problem, settings: Settings, toolchain: Toolchain):
    formed = form_for(problem, problem.canonical or "", "auto")
    if formed.head != problem.head:
        problem = dataclasses.replace(problem, head=formed.head)
    return assemble(problem, formed.completion, settings.edition, toolchain.unsafe_attrs)


def calibrate(problems: Iterable[Problem], settings: Settings, toolchain: Toolchain, sandbox: Sandbox,
              log: Optional[Log] = None, base_dir: Optional[str] = None) -> Dict[str, Optional[float]]:
    """The CPU seconds of each problem's canonical solution (None: it has none, or it did not pass), from the
    cache or measured now (one Grader for all problem files, at the fixed limit)."""
    by_file: Dict[str, List[Problem]] = {}
    for p in problems:
        if p.canonical is not None:
            by_file.setdefault(p.source.rsplit(":", 1)[0], []).append(p)
    out: Dict[str, Optional[float]] = {p.task_id: None for p in problems}
    todo: List[tuple] = []  # (cache path, problem)
    known: Dict[str, Dict[str, Optional[float]]] = {}
    for path, probs in by_file.items():
        cpath = cache_path(path, settings, toolchain, sandbox.kind) if os.path.isfile(path) else None
        cached: Dict[str, Optional[float]] = {}
        if cpath is not None:
            try:
                with open(cpath, "rb") as f:
                    cached = orjson.loads(f.read())
            except (OSError, orjson.JSONDecodeError):
                cached = {}
            known[cpath] = cached
        for p in probs:
            if p.task_id in cached:
                out[p.task_id] = cached[p.task_id]
            else:
                todo.append((cpath, p))
    if not todo:
        return out
    if log:
        log(f"calibrating --heval-timeout auto: running {len(todo)} canonical solution(s) (cached for later runs)")
    fixed = dataclasses.replace(settings, timeout=FIXED_TIMEOUT, cache=None, clippy=False, deny=None)
    with Grader(fixed, toolchain=toolchain, sandbox=sandbox, base_dir=base_dir) as g:
        verdicts = g.grade_programs([_canonical_program(p, settings, toolchain) for _, p in todo])
    for (cpath, p), v in zip(todo, verdicts):
        if v.get("error_type") == "infra_error":
            continue  # the harness's fault: measured again next time, the fixed limit meanwhile
        cpu = v.get("cpu_s") if v.get("passed") else None
        out[p.task_id] = cpu
        if cpath is not None:
            known[cpath][p.task_id] = cpu
    for cpath, data in known.items():
        try:
            os.makedirs(os.path.dirname(cpath), exist_ok=True)
            atomic_write(cpath, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
        except OSError:
            pass  # a cache that cannot be written only costs time
    return out


def limit_of(cpu: Optional[float], settings: Settings) -> Optional[float]:
    """A problem's CPU limit from its canonical solution's CPU time (None: it keeps the fixed limit)."""
    if cpu is None:
        return None
    return round(max(settings.min_timeout, settings.timeout_factor * cpu), 2)


def problem_timeouts(problems: Sequence[Problem], settings: Settings, toolchain: Toolchain, sandbox: Sandbox,
                     log: Optional[Log] = None, base_dir: Optional[str] = None) -> Dict[str, float]:
    """task_id -> CPU limit for every problem that has a calibrated one (the others keep the fixed limit)."""
    cpu = calibrate(problems, settings, toolchain, sandbox, log, base_dir)
    limits = {tid: limit_of(c, settings) for tid, c in cpu.items()}
    return {tid: lim for tid, lim in limits.items() if lim is not None}
