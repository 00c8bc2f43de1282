"""The inputs of a run: samples files (:mod:`.samples`), problem files in their formats (:mod:`.problems`), JSON Lines
(:mod:`.jsonl`), loaded and cross-checked before anything is compiled."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

from ..errors import InputError
from .problems import Problem, inline_problem, load_problems
from .jsonl import is_jsonl_path
from .samples import Sample, SampleSet


class Inputs:
    def __init__(self, problem_paths: Sequence[str]):
        self.problem_paths = [os.path.abspath(p) for p in problem_paths]
        self.problems: Dict[str, Problem] = load_problems(self.problem_paths) if self.problem_paths else {}
        self.files: Dict[str, SampleSet] = {}

    def load(self, path: str) -> SampleSet:
        path = os.path.abspath(path)
        sf = self.files.get(path)
        if sf is None:
            sf = self.files[path] = SampleSet(path, self.problem_for)
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
        return sf.sample(index), sf.problem(index)


def samples_paths(args: Sequence[str], named: Sequence[str] = ()) -> List[str]:
    """The samples files of a run, absolute, in command-line order: the .jsonl/.jsonl.gz files among the positional
    ``args`` (node-id suffixes ``::...`` stripped) and in positional directories (not recursive; our own
    ``*_results.jsonl`` left out), and every path of ``named`` (``--heval-samples``: a file of any name, or a
    directory). A positional file that holds JSON but has another name is an InputError saying what to do."""
    out: List[str] = []

    def add(p: str) -> None:
        p = os.path.abspath(p)
        if p not in out:
            out.append(p)

    def add_dir(d: str) -> None:
        for name in sorted(os.listdir(d)):
            if is_jsonl_path(name) and not name.endswith("_results.jsonl") and os.path.isfile(os.path.join(d, name)):
                add(os.path.join(d, name))

    for a in args:
        p = str(a).split("::", 1)[0]
        if is_jsonl_path(p):
            add(p)
        elif os.path.isdir(p):
            add_dir(p)
        elif os.path.isfile(p) and not p.endswith(".py") and _looks_like_json(p):
            raise InputError(p, "holds JSON but is not named .jsonl or .jsonl.gz: to grade it as a samples file, "
                                f"pass it as --heval-samples {a}")
    for p in named:
        if os.path.isdir(p):
            add_dir(p)
        else:
            add(p)
    return out


def _looks_like_json(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = read_head(f)
    except OSError:
        return False
    return head[:1] in (b"{", b"[")


def read_head(f) -> bytes:
    """The first non-blank bytes of a file (gzip is looked into)."""
    data = f.read(4096)
    if data[:2] == b"\x1f\x8b":
        import zlib
        data = zlib.decompressobj(31).decompress(data)
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")


def check_files_exist(paths: Sequence[str], what: str) -> Optional[str]:
    for p in paths:
        if not os.path.isfile(p):
            return f"{what} not found: {p}"
    return None
