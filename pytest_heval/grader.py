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
import os
import shutil
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from .batch import Build, Builder
from .cache import VerdictCache
from .crates import Crates
from .inputs import Inputs
from .lint import Lint, Linter
from .plan import Plan, Ref, batch_size
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
    """The same plan in every process (the xdist controller schedules by it, each worker builds by it)."""
    pairs = [(ref, program_of(ref).key) for ref in refs]
    distinct = len({key for _, key in pairs})
    return Plan(pairs, batch_size(distinct, batch, workers))


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
        self._built: Dict[str, Build] = {}  # program key -> build not yet run
        self._lints: Dict[str, Lint] = {}  # program key -> clippy's findings, for a build not yet run
        self._verdicts: Dict[str, Verdict] = {}  # program key -> verdict: duplicates reuse it
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
        self.plan(Plan([(r, programs[r[1]].key) for r in refs], batch or self.settings.batch), program_of)
        return [self.verdict(r) for r in refs]

    # ---- one sample ----------------------------------------------------------------------
    def verdict(self, ref: Ref) -> Verdict:
        """The verdict of one planned sample: its batch is built on first use, a duplicate reuses its twin's verdict.
        Every verdict names the completion's ``features``; one that uses a denied feature is ``policy``, unbuilt."""
        assert self._plan is not None and self._program_of is not None, "plan() first"
        feats = self._program_of(ref).features
        denied = feats & self.settings.denied
        v = policy_verdict(denied) if denied else self._verdict(ref)
        v["features"] = sorted(feats)
        return v

    def _verdict(self, ref: Ref) -> Verdict:
        plan, program_of = self._plan, self._program_of
        key = plan.key_of[ref]
        if key in self._verdicts:
            v = dict(self._verdicts[key])
            v.update(duration_s=0.0, reused=True)
            return v
        if self.cache is not None:
            v = self.cache.get(key)
            if v is not None:
                self._verdicts[key] = v
                v = dict(v)
                v.update(duration_s=0.0, cached=True)
                return v
        t0 = time.monotonic()
        if key not in self._built:
            self._build_scope_of(key)
        b = self._built.pop(key)
        try:
            v = self._run(program_of(ref), b)
        except Exception as e:  # never let one sample break the run: the harness's fault, said so
            v = infra_verdict(f"{type(e).__name__}: {e}")
        self._release(b)
        lint = self._lints.pop(key, None)
        if lint is not None and v.get("compile_ok"):
            v.update(lint.fields())
        v["duration_s"] = round(time.monotonic() - t0 + v.get("compile_s", 0.0) * (b.shared > 1), 4)
        if v.get("error_type") != "infra_error":
            self._verdicts[key] = v
            if self.cache is not None:
                self.cache.put(key, v)
        return v

    def _build_scope_of(self, key: str) -> None:
        """Build the programs of ``key``'s batch that are still to be judged (and selected)."""
        plan, program_of, selected = self._plan, self._program_of, self._selected
        wanted = [k for k in plan.keys_of_scope[plan.scope_of_key[key]]
                  if k not in self._verdicts and k not in self._built
                  and (selected is None or k == key or plan.first_ref[k] in selected)]
        programs = [program_of(plan.first_ref[k]) for k in wanted]
        programs = [p for p in programs if p.key == key or not p.features & self.settings.denied]  # never built
        try:
            built = self.builder.build(programs)
        except Exception as e:  # the sandbox or toolchain failed: the harness's fault
            built = {p.key: Build(verdict=infra_verdict(f"build failed: {e}")) for p in programs}
        if self.linter is not None:
            try:
                self._lints.update(self.linter.lint(programs, built))
            except Exception as e:  # the harness's fault: clippy cannot judge them, the verdicts stand
                self._lints.update({k: Lint(None, error=f"clippy failed: {type(e).__name__}: {e}")
                                    for k, b in built.items() if b.ok})
        for b in built.values():
            if b.dir:
                self._dir_refs[b.dir] = self._dir_refs.get(b.dir, 0) + 1
        self._built.update(built)

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
