"""The inputs of a run: samples files (:mod:`.samples`), problem files in their formats (:mod:`.problems`), JSON Lines
(:mod:`.jsonl`), loaded and cross-checked before anything is compiled."""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence

from ..errors import InputError
from .problems import Problem, inline_problem, load_problems
from .samples import Sample, load_samples


@dataclasses.dataclass
class SampleSet:
    path: str  # absolute
    samples: List[Sample]
    problems: List[Problem]  # problems[i] is the problem of samples[i]


class Inputs:
    def __init__(self, problem_paths: Sequence[str]):
        self.problem_paths = [os.path.abspath(p) for p in problem_paths]
        self.problems: Dict[str, Problem] = load_problems(self.problem_paths) if self.problem_paths else {}
        self.files: Dict[str, SampleSet] = {}

    def load(self, path: str) -> SampleSet:
        path = os.path.abspath(path)
        sf = self.files.get(path)
        if sf is None:
            samples = load_samples(path)
            problems = [self.problem_for(s) for s in samples]
            sf = self.files[path] = SampleSet(path, samples, problems)
        return sf

    def problem_for(self, s: Sample) -> Problem:
        own = inline_problem(s.path, s.line, s.row)
        if own is not None:
            return own
        p = self.problems.get(s.task_id)
        if p is None:
            where = ", ".join(os.path.basename(p) for p in self.problem_paths) or "no --heval-problems file given"
            raise InputError(s.path, f"task_id {s.task_id!r} is in no problem file ({where}) and the row "
                                     "carries no prompt+test of its own", line=s.line, field="task_id")
        return p

    def get(self, path: str, index: int) -> tuple:
        sf = self.load(path)
        return sf.samples[index], sf.problems[index]


def samples_paths(args: Sequence[str]) -> List[str]:
    """The .jsonl/.jsonl.gz files named on the command line (node-id suffixes ``::...`` stripped)."""
    out: List[str] = []
    for a in args:
        p = str(a).split("::", 1)[0]
        if (p.endswith(".jsonl") or p.endswith(".jsonl.gz")) and os.path.abspath(p) not in out:
            out.append(os.path.abspath(p))
    return out


def check_files_exist(paths: Sequence[str], what: str) -> Optional[str]:
    for p in paths:
        if not os.path.isfile(p):
            return f"{what} not found: {p}"
    return None
