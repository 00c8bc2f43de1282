"""Assembling the Rust program for one sample: head + completion + "\\n" + test, hardened, with the exit guard."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import FrozenSet, Optional, Tuple

from ..crates import crates_used
from ..features import batchable, features, main_batch_refusal, main_path_refusal
from ..inputs.problems import Problem
from ..lexer import lex
from .guard import PROOF, exit_guard
from .harden import expected_tests, harden_test
from .testnames import test_paths

SEPARATOR = "\nconst _: () = ();\n"


@functools.lru_cache(maxsize=8192)
def _features_of(completion: str) -> FrozenSet[str]:
    return features(completion)


@functools.lru_cache(maxsize=8192)
def _batchable(module_text: str) -> bool:
    return batchable(module_text)


@functools.lru_cache(maxsize=1024)
def _main_batchable(module_text: str, edition: str) -> bool:
    return main_batch_refusal(module_text, edition) is None


@functools.lru_cache(maxsize=1024)
def _test_main_at(test: str, edition: str) -> int:
    """Offset in the (hardened) main-style test text of the ``fn`` of its one ``fn main``, or -1 when there is not
    exactly one or its paths could mean something else inside a module (:func:`main_path_refusal`)."""
    if main_path_refusal(test, edition):
        return -1
    toks = [t for t in lex(test) if not t.trivia]
    at = [t.start for t, u in zip(toks, toks[1:]) if t.kind == "keyword" and t.text == "fn"
          and u.kind == "ident" and u.text == "main"]
    return at[0] if len(at) == 1 else -1


@dataclasses.dataclass(frozen=True)
class Program:
    source: str  # the whole program, exit guard included: what a standalone build compiles
    style: str  # "libtest" | "main"
    edition: str
    expected_tests: Tuple[str, ...]
    body: str = ""  # the program without the exit guard: what becomes one module of a batch crate
    proof: bool = True  # the exit guard reports main's return on PROOF_FD (x86_64 Linux; linked with GUARD_FLAGS)
    crates: Tuple[str, ...] = ()  # the dataset crates it names (rand, regex, md5): built with --extern for them
    head: str = ""  # the problem's prompt/declaration (the trusted test text is not in head nor completion)
    completion: str = ""
    test_paths: Tuple[str, ...] = ()  # the problem's tests by full path ("tests::test_add"): what a run names
    # where the completion lies in ``body`` (and ``source``, which starts with it): character offsets [start, end),
    # so that a lint is blamed on the completion only when it lies there, never for the prompt's or the test's text
    completion_span: Tuple[int, int] = (0, 0)
    # the problem's own CPU limit (--heval-timeout auto, from its canonical solution); None: the run's fixed one
    timeout: Optional[float] = None
    # main style: where the test text's ``fn main`` starts in ``body`` (-1: none found, never batched)
    main_at: int = -1

    @property
    def features(self) -> FrozenSet[str]:
        """The escape hatches the completion uses (:mod:`pytest_heval.features`)."""
        return _features_of(self.completion)

    @property
    def batchable(self) -> bool:
        """May be built as a module of a shared crate: an allow-list over the real tokens of head + completion proves
        it safe there (:func:`pytest_heval.features.batchable`; main style: :func:`~pytest_heval.features.
        main_batch_refusal`, and the test's one ``fn main`` was found). Computed on first use (when building), not
        when planning."""
        if self.style == "libtest":
            return _batchable(self.head + self.completion)
        return self.main_at >= 0 and _main_batchable(self.head + self.completion, self.edition)

    @property
    def module_body(self) -> str:
        """What becomes this program's module in a batch crate: ``body``, with a main-style test's ``fn main`` made
        ``pub fn main`` so that the batch root's ``main`` can call it (nothing else differs)."""
        if self.style == "libtest" or self.main_at < 0:
            return self.body
        return self.body[:self.main_at] + "pub " + self.body[self.main_at:]

    @functools.cached_property
    def key(self) -> str:
        """Content hash: identical programs (same source, style, edition) share one build and one run."""
        h = hashlib.sha256()
        for part in (self.style, self.edition, self.source):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        if self.timeout is not None:  # a verdict depends on its limit (the fixed one is in the cache's fingerprint)
            h.update(b"timeout=%r" % self.timeout)
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
    # scanned apart (the problem's parts once): a comment the completion leaves open may make this too wide,
    # which costs nothing (an unused --extern is free)
    crates = _problem_crates(problem.head) | _problem_crates(problem.test) | crates_used(completion)
    libtest = style == "libtest"
    edition = edition or problem.edition
    main_at = -1
    if not libtest:
        at = _test_main_at(test, edition)
        main_at = -1 if at < 0 else len(problem.head) + len(completion) + len(sep) + at
    return Program(source, style, edition, expected_tests(problem.test) if libtest else (), body,
                   PROOF, tuple(sorted(crates)), problem.head, completion,
                   test_paths(problem.test) if libtest else (),
                   (len(problem.head), len(problem.head) + len(completion)), main_at=main_at)
