"""Assembling the Rust program for one sample: head + completion + "\\n" + test, hardened, with the exit guard."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from typing import Tuple

from ..crates import crates_used
from ..inputs.problems import Problem
from .guard import PROOF, exit_guard
from .harden import expected_tests, harden_test

SEPARATOR = "\nconst _: () = ();\n"


# What changes meaning when a sample becomes a module of a shared crate (see performance notes):
# crate-relative paths, crate attributes, exported symbols/macros, file-relative macros, out-of-line modules.
_NOT_BATCHABLE = re.compile(
    r"crate::|\$crate|#!\s*\[|no_mangle|export_name|link_section|macro_export|module_path!|file!|"
    r"\bmod\s+\w+\s*;|extern\s+crate|#\s*\[\s*path\b|\bsuper::|__heval"
)


@dataclasses.dataclass(frozen=True)
class Program:
    source: str  # the whole program, exit guard included: what a standalone build compiles
    style: str  # "libtest" | "main"
    edition: str
    expected_tests: Tuple[str, ...]
    body: str = ""  # the program without the exit guard: what becomes one module of a batch crate
    batchable: bool = False
    proof: bool = True  # the exit guard reports main's return on PROOF_FD (x86_64 Linux; linked with GUARD_FLAGS)
    crates: Tuple[str, ...] = ()  # the dataset crates it names (rand, regex, md5): built with --extern for them

    @functools.cached_property
    def key(self) -> str:
        """Content hash: identical programs (same source, style, edition) share one build and one run."""
        h = hashlib.sha256()
        for part in (self.style, self.edition, self.source):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()


@functools.lru_cache(maxsize=4096)
def _problem_crates(text: str) -> frozenset:
    return crates_used(text)


def assemble(problem: Problem, completion: str, edition: str | None = None, unsafe_attrs: bool = True) -> Program:
    style = problem.style
    # SEPARATOR takes any attribute the completion leaves dangling (`#[cfg(any())]`), which would
    # otherwise land on the problem's test module and remove it
    # (main style needs none: its test text starts by closing the completion's function, and a
    # separator there would end the completion's tail expression)
    sep = SEPARATOR if style == "libtest" else "\n"
    test = harden_test(problem.test)
    body = problem.head + completion + sep + test + "\n"
    source = body + exit_guard(unsafe_attrs)
    # the test text is the dataset's (its `use super::*` is fine inside a module); check the rest
    batchable = style == "libtest" and not _NOT_BATCHABLE.search(problem.head + completion)
    # scanned apart (the problem's parts once): a comment the completion leaves open may make this too wide,
    # which costs nothing (an unused --extern is free)
    crates = _problem_crates(problem.head) | _problem_crates(problem.test) | crates_used(completion)
    return Program(source, style, edition or problem.edition,
                   expected_tests(problem.test) if style == "libtest" else (), body, batchable, PROOF,
                   tuple(sorted(crates)))
