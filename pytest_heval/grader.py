"""The Grader: sample references in, verdicts out. No pytest here: the plugin, ``bench/`` and the tests all grade
through it.

It plans which distinct programs are built together (:mod:`.plan`), builds a batch when one of its samples is
first asked for (:mod:`.batch`) and, with ``--heval-clippy``, lints what built (:mod:`.lint`), runs each sample's
tests as a process of its own in the sandbox (:mod:`.sandbox`), classifies the run (:mod:`.verdict`), gives a
duplicate program its twin's verdict, keeps verdicts across runs when a cache is set (:mod:`.cache`), turns
anything the harness fails at into an ``infra_error`` verdict (never an exception), and removes each build dir once
its last sample has run.

    with Grader(settings) as g:
        for ref, verdict in g.grade(refs, program_of):
            ...
"""

from __future__ import annotations

import dataclasses
from array import array
import os
import shutil
import time
from typing import Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from .batch import Build, Builder
from .cache import VerdictCache
from .crates import Crates
from .inputs import Inputs
from .lint import Lint, Linter
from .plan import KeyTable, Plan, Ref, batch_size
from .program import Program, assemble
from .program.forms import Formed, form_for
from .sandbox import RunnerClient, RunnerError, Sandbox, get_sandbox
from .settings import Limits, Settings
from .toolchain import Toolchain, find_toolchain
from .verdict import Verdict, classify_run, infra_verdict, policy_verdict

ProgramOf = Callable[[Ref], Program]


def sample_form(inputs: Inputs, settings: Settings, ref: Ref) -> Formed:
    """The completion form of a sample (``settings.completion_form``: auto or raw) and the head and completion
    its program is built from."""
    sample, problem = inputs.get(*ref)
    return form_for(problem, sample.completion, settings.completion_form)


def sample_programs(inputs: Inputs, settings: Settings, toolchain: Toolchain,
                    timeouts: Optional[Dict[str, float]] = None) -> ProgramOf:
    """The program of each sample of ``inputs`` (assembled when asked for, not kept); ``timeouts``: task_id -> the
    problem's own CPU limit (``--heval-timeout auto``, :mod:`.timeouts`), carried by its programs."""
    def program_of(ref: Ref) -> Program:
        problem = inputs.get(*ref)[1]
        formed = sample_form(inputs, settings, ref)
        if formed.head != problem.head:
            problem = dataclasses.replace(problem, head=formed.head)
        p = assemble(problem, formed.completion, settings.edition, toolchain.unsafe_attrs)
        limit = timeouts.get(problem.task_id) if timeouts else None
        return p if limit is None else dataclasses.replace(p, timeout=limit)
    return program_of


def make_plan(refs: Iterable[Ref], program_of: ProgramOf, batch: int, workers: int) -> Plan:
    """The plan of ``refs`` by their programs' keys (every program assembled once)."""
    pairs = [(ref, program_of(ref).key) for ref in refs]
    distinct = len({key for _, key in pairs})
    return Plan.of(pairs, batch_size(distinct, batch, workers))


def plan_samples(inputs: Inputs, paths: Sequence[str], batch: int, workers: int) -> Plan:
    """The plan of every sample of the samples files ``paths``, the same in every process (the xdist controller
    schedules by it, each worker builds by it), from what :class:`~pytest_heval.inputs.SampleSet` already knows: a
    sample's key is the identity of its problem and completion, numbered across the files. No program is assembled
    and nothing is held per sample but one small int."""
    number: Dict[bytes, int] = {}
    keys: Dict[str, KeyTable] = {}
    for path in paths:
        ss = inputs.load(path)
        ids = [number.setdefault(d, len(number)) for d in ss.idents]
        keys[ss.path] = ss.ident if ids == list(range(len(ids))) else array("I", (ids[i] for i in ss.ident))
    return Plan(keys, batch_size(len(number), batch, workers))


class Grader:
    def __init__(self, settings: Settings = Settings(), *, toolchain: Optional[Toolchain] = None,
                 sandbox: Optional[Sandbox] = None, worker: int = 0, base_dir: Optional[str] = None):
        self.settings = settings
        self.toolchain = toolchain or find_toolchain()
        self.sandbox = sandbox or get_sandbox(settings.sandbox)
        self.client = RunnerClient(self.toolchain, self.sandbox, worker, base_dir)  # the jail starts on first use
        self.builder = Builder(self.client, settings.limits, Crates(self.toolchain.rustc, settings.crates))
        self.linter = (Linter(self.client, settings.limits, settings.clippy_argv, self.builder.crate_args)
                       if settings.clippy else None)
        self.cache = (VerdictCache(settings.cache, settings.fingerprint(self.toolchain, self.sandbox.kind))
                      if settings.cache else None)
        self._plan: Optional[Plan] = None
        self._program_of: Optional[ProgramOf] = None
        self._selected: Optional[Set[Ref]] = None
        # by the plan's key of a sample (the program's own key, or the identity of its inputs: see plan_samples)
        self._programs: Dict[Hashable, Program] = {}  # assembled for a build, not yet judged
        self._built: Dict[Hashable, Build] = {}  # build not yet run
        self._lints: Dict[Hashable, Lint] = {}  # clippy's findings, for a build not yet run
        self._verdicts: Dict[Hashable, Verdict] = {}  # verdict: duplicates reuse it
        self._dir_refs: Dict[str, int] = {}  # build dir -> samples still to run from it

    @property
    def limits(self) -> Limits:
        return self.builder.limits

    @limits.setter
    def limits(self, value: Limits) -> None:
        self.builder.limits = value
        if self.linter is not None:
            self.linter.limits = value
        self._verdicts.clear()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        self._programs.clear()
        self._built.clear()
        self._lints.clear()
        self._dir_refs.clear()

    # ---- what to grade -------------------------------------------------------------------
    def plan(self, plan: Plan, program_of: ProgramOf, selected: Optional[Set[Ref]] = None) -> None:
        """Grade by ``plan`` from now on; ``selected``: the refs that will be asked for (a batch builds only
        those of its programs), None for all."""
        self._plan, self._program_of, self._selected = plan, program_of, selected
        self._verdicts.clear()

    def grade(self, refs: Sequence[Ref], program_of: ProgramOf, workers: int = 1) -> Iterator[Tuple[Ref, Verdict]]:
        """Plan ``refs`` and yield (ref, verdict) in their order. Batches shrink so that ``workers`` processes grading
        the same refs each get at least four (0: batches of ``settings.batch`` however few programs there are)."""
        self.plan(make_plan(refs, program_of, self.settings.batch, workers), program_of)
        for ref in refs:
            yield ref, self.verdict(ref)

    def grade_programs(self, programs: Sequence[Program], batch: Optional[int] = None) -> List[Verdict]:
        """The verdicts of ``programs``, in order; up to ``batch`` (default: the settings') distinct programs per
        rustc, however few there are."""
        refs = [("", i) for i in range(len(programs))]
        program_of: ProgramOf = lambda ref: programs[ref[1]]  # noqa: E731
        self.plan(Plan.of([(r, programs[r[1]].key) for r in refs], batch or self.settings.batch), program_of)
        return [self.verdict(r) for r in refs]

    # ---- one sample ----------------------------------------------------------------------
    def verdict(self, ref: Ref) -> Verdict:
        """The verdict of one planned sample: its batch is built on first use, a duplicate reuses its twin's verdict.
        Every verdict names the completion's ``features``; one that uses a denied feature is ``policy``, unbuilt."""
        assert self._plan is not None and self._program_of is not None, "plan() first"
        key = self._plan.key(ref)
        assert key is not None, f"{ref} is not planned"
        if key in self._verdicts:
            v = dict(self._verdicts[key])
            v.pop("cached", None)  # this one is its twin's: reused
            v.update(duration_s=0.0, reused=True)
            return v
        p = self._programs.pop(key, None) or self._program_of(ref)
        denied = p.features & self.settings.denied
        v = policy_verdict(denied) if denied else self._verdict(key, p)
        v["features"] = sorted(p.features)
        if v.get("error_type") != "infra_error":
            self._verdicts[key] = v
        return dict(v)

    def _verdict(self, key: Hashable, p: Program) -> Verdict:
        if self.cache is not None:
            v = self.cache.get(p.key)
            if v is not None:
                self._drop(key)
                return dict(v, duration_s=0.0, cached=True)
        t0 = time.monotonic()
        if key not in self._built:
            self._build_scope_of(key, p)
        b = self._built.pop(key)
        try:
            v = self._run(p, b)
        except Exception as e:  # never let one sample break the run: the harness's fault, said so
            v = infra_verdict(f"{type(e).__name__}: {e}")
        self._release(b)
        lint = self._lints.pop(key, None)
        if lint is not None and v.get("compile_ok"):
            v.update(lint.fields())
        v["duration_s"] = round(time.monotonic() - t0 + v.get("compile_s", 0.0) * (b.shared > 1), 4)
        if v.get("error_type") != "infra_error" and self.cache is not None:
            self.cache.put(p.key, v)
        return v

    def _drop(self, key: Hashable) -> None:
        """``key`` is judged without its build (its verdict was cached): free what its batch built for it."""
        self._programs.pop(key, None)
        self._lints.pop(key, None)
        b = self._built.pop(key, None)
        if b is not None:
            self._release(b)

    def _build_scope_of(self, key: Hashable, program: Program) -> None:
        """Build the programs of ``key``'s batch that are still to be judged (and selected). Programs of several
        keys that assemble to the same source are built once."""
        plan, program_of, selected = self._plan, self._program_of, self._selected
        wanted = [k for k in plan.keys_of_scope[plan.scope_of_key[key]]
                  if k not in self._verdicts and k not in self._built
                  and (selected is None or k == key or plan.first_ref[k] in selected)]
        programs = {k: program if k == key else self._programs.get(k) or program_of(plan.first_ref[k])
                    for k in wanted}
        # a denied program is never built; one whose verdict is cached needs no build
        todo = {p.key: p for k, p in programs.items() if k == key or not (
            p.features & self.settings.denied or (self.cache is not None and self.cache.has(p.key)))}
        try:
            built = self.builder.build(list(todo.values()))
        except Exception as e:  # the sandbox or toolchain failed: the harness's fault
            built = {pk: Build(verdict=infra_verdict(f"build failed: {e}")) for pk in todo}
        if self.linter is not None:
            try:
                lints = self.linter.lint(list(todo.values()), built)
            except Exception as e:  # the harness's fault: clippy cannot judge them, the verdicts stand
                lints = {pk: Lint(None, error=f"clippy failed: {type(e).__name__}: {e}")
                         for pk, b in built.items() if b.ok}
        for k, p in programs.items():
            b = built.get(p.key)
            if b is None:
                continue
            self._built[k] = b
            if k != key:
                self._programs[k] = p
            if self.linter is not None and p.key in lints:
                self._lints[k] = lints[p.key]
            if b.dir:
                self._dir_refs[b.dir] = self._dir_refs.get(b.dir, 0) + 1

    def _release(self, b: Build) -> None:
        if b.dir:
            self._dir_refs[b.dir] -= 1
            if self._dir_refs[b.dir] == 0:
                del self._dir_refs[b.dir]
                shutil.rmtree(b.dir, ignore_errors=True)

    def _run(self, p: Program, b: Build) -> Verdict:
        """Run a built program's tests in a process of its own, in a fresh empty work dir; classify the run."""
        if not b.ok:
            return dict(b.verdict)
        argv = [b.exe]
        # a binary of its own tells its size; a batch binary's size is every module's (and libtest's) together
        try:
            size = os.path.getsize(b.exe) if b.shared == 1 else None
        except OSError:
            size = None
        if p.style == "libtest":
            if p.test_paths:  # exactly the problem's tests (under the sample's module in a batch), nothing else
                argv += ["--exact"] + [(b.filter or "") + t for t in p.test_paths]
            elif b.filter:
                argv.append(b.filter)
            argv += ["--test-threads=1", "--nocapture", "--color=never"]
        elif b.filter:  # main style in a batch crate: its root main runs the module argv[1] names
            argv.append(b.filter)
        try:
            cwd = self.client.new_dir()  # its own clean, empty work dir, the only place it may write
            try:
                limits = self.limits if p.timeout is None else dataclasses.replace(self.limits, timeout=p.timeout)
                r = self.client.run(limits, argv, cwd, keep_prefix=("test ",))
            finally:
                shutil.rmtree(cwd, ignore_errors=True)
        except (RunnerError, OSError) as e:
            return infra_verdict(str(e))
        v = classify_run(r, p)
        v["run_s"] = round(r.get("duration", 0.0), 4)
        v["cpu_s"] = r.get("cpu")  # user+sys of the run's process tree
        v["compile_s"] = round(b.compile_s, 4)
        v["binary_size_bytes"] = size
        return v
