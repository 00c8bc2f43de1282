"""``python -m pytest_heval validate PROBLEMS_OR_NAME...``: find a problem set's broken problems.

A problem is broken when no answer can be graded fairly against it. Checks, per problem:

- ``canonical`` (human-eval, HumanEval-X/-Pack: the row's ``canonical_solution``): must pass.
- ``buggy`` (HumanEvalPack: ``buggy_solution``): must fail; one that passes means the tests miss its bug.
- ``stub`` (sets with no canonical solution, i.e. MultiPL-E): the body ``todo!()`` must compile (else the test
  text does not type-check against the prompt's signature) and must fail (else the tests run nothing).
- ``static`` (every set, no build): the test text defines no test outside comments, or asserts the same call
  (same argument text) equal to two different literals, which no deterministic function can satisfy.

Solutions are graded through the engine (:class:`~pytest_heval.Grader`, the settings table, the completion forms
of the plugin: a canonical solution is a continuation like any sample), optionally in several processes.
No pytest import here.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import orjson

from .errors import HevalError
from .inputs.problems import Problem, _rows, problem_from_row, row_format
from .lexer import tokens
from .program.forms import first_below, mask, net_depth
from .settings import Settings

HELP = "grade each problem's canonical (and buggy) solution and list the broken problems"
STUB = "    todo!()\n"
# what each check expects of its verdict
EXPECT = {"canonical": "pass", "buggy": "fail", "stub": "compile and fail"}


@dataclasses.dataclass(frozen=True)
class Check:
    """One program to grade: a problem and the completion it is graded with."""
    file: str
    task_id: str
    kind: str  # canonical | buggy | stub
    problem: Problem
    completion: str


@dataclasses.dataclass(frozen=True)
class Broken:
    """A row of the table: why a problem is broken, by which check."""
    file: str
    task_id: str
    check: str  # canonical | buggy | stub | static | infra
    reason: str
    error_type: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# ---- reading a problem set ------------------------------------------------------------------


def load_checks(path: str) -> Tuple[List[Problem], List[Check]]:
    """The problems of a problem file (any format :mod:`pytest_heval.inputs.problems` reads) and the checks to
    grade: canonical and buggy solutions where the row has them, else the ``todo!()`` stub."""
    problems: List[Problem] = []
    checks: List[Check] = []
    fmt = None
    for line, row in _rows(path):
        if fmt is None and isinstance(row, dict):
            fmt = row_format(row)
        p = problem_from_row(path, line, row, fmt if isinstance(row, dict) and row_format(row) == fmt else None)
        problems.append(p)
        found = False
        for kind, field in (("canonical", "canonical_solution"), ("buggy", "buggy_solution")):
            text = row.get(field)
            if isinstance(text, str):
                checks.append(Check(path, p.task_id, kind, p, text))
                found = True
        if not found:
            checks.append(Check(path, p.task_id, "stub", p, STUB))
    return problems, checks


# ---- static checks -----------------------------------------------------------------------------

_ASSERT = re.compile(r"\bassert(_eq)?!\s*\(")
_LITERAL = re.compile(r"""-?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?(_?[iuf](8|16|32|64|128|size))?"""
                      r"""|true|false|"[^"\\]*"|'.'""")


def _args(text: str, m: str, open_at: int) -> Optional[Tuple[List[str], int]]:
    """The top-level arguments of the macro call whose ``(`` is at ``open_at`` (None: unbalanced)."""
    depth, start, out = 0, open_at + 1, []
    for i in range(open_at, len(m)):
        c = m[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                out.append(text[start:i])
                return [a.strip() for a in out if a.strip()], i
        elif c == "," and depth == 1:
            out.append(text[start:i])
            start = i + 1
    return None


def _norm(expr: str) -> str:
    """The expression's tokens without whitespace and comments (string contents kept as written)."""
    return " ".join(t.text for t in tokens(expr))


def _literal_value(expr: str) -> Optional[str]:
    """A canonical spelling of a literal (``1.0`` and ``1.00`` agree), None for anything else."""
    e = _norm(expr).replace("- ", "-")
    if not _LITERAL.fullmatch(e):
        return None
    if e in ("true", "false") or e[0] in "\"'":
        return e
    num = re.sub(r"_?[iuf](8|16|32|64|128|size)$", "", e).replace("_", "")
    try:
        return repr(float(num)) if any(c in num for c in ".eE") else str(int(num))
    except ValueError:
        return None


def asserted_calls(test: str) -> List[Tuple[str, str, int]]:
    """(call as written, expected literal, line) of each ``assert_eq!(call, literal)``, ``assert!(call)`` (true) and
    ``assert!(!call)`` (false) of a test text (comments and string contents do not count)."""
    m = mask(test)
    out = []
    for a in _ASSERT.finditer(m):
        parsed = _args(test, m, a.end() - 1)
        if parsed is None:
            continue
        args, _ = parsed
        line = test.count("\n", 0, a.start()) + 1
        if a.group(1) and len(args) >= 2:
            for call, exp in ((args[0], args[1]), (args[1], args[0])):
                value = _literal_value(exp)
                if value is not None and _literal_value(call) is None:
                    out.append((call, value, line))
                    break
        elif not a.group(1) and args:
            cond = args[0]
            if "==" in cond or "!=" in cond or "<" in cond or ">" in cond or "&&" in cond or "||" in cond:
                continue
            if cond.startswith("!"):
                out.append((cond[1:].lstrip(), "false", line))
            else:
                out.append((cond, "true", line))
    return out


def static_findings(problem: Problem) -> List[str]:
    """Why a problem's test text is broken on its face (empty when it is not)."""
    m = mask(problem.test)
    found = []
    cut = first_below(m, 0)
    closes = cut is not None and not m[:cut].strip()  # MultiPL-E: the test starts by closing the prompt's fn
    open_left = net_depth(m[cut + 1:] if closes else m)
    if open_left > 0:
        return [f"truncated test text: it ends with {open_left} bracket(s) still open"
                + ("" if re.search(r"#\s*\[\s*test\s*\]", m) else " and defines no #[test] function")]
    if problem.style == "libtest" and not re.search(r"#\s*\[\s*test\s*\]", m):
        found.append("no test runs: the test text has no #[test] function outside comments"
                     + (" (it is commented out)" if re.search(r"#\s*\[\s*test\s*\]", problem.test) else ""))
    elif problem.style == "main" and not re.search(r"\bassert", m) and "panic!" not in m:
        found.append("no test runs: fn main asserts nothing")
    seen: Dict[str, Tuple[str, int, str]] = {}
    reported = set()
    for call, value, line in asserted_calls(problem.test):
        if re.search(r"\brand|\brng\b|random", call):  # not the same call twice
            continue
        key = _norm(call)
        first = seen.setdefault(key, (value, line, call))
        if first[0] != value and key not in reported:
            reported.add(key)
            shown = " ".join(first[2].split())
            found.append(f"contradictory asserts: {shown} == {first[0]} (test line {first[1]}) "
                         f"and == {value} (line {line})")
    return found


# ---- judging verdicts -----------------------------------------------------------------------


def judge(check: Check, v: Dict[str, Any]) -> Optional[Broken]:
    """A Broken row when the verdict of ``check`` is not what its kind expects, else None."""
    et, result = v.get("error_type"), v.get("result", "")
    row = lambda check_name, reason: Broken(check.file, check.task_id, check_name, reason, et)  # noqa: E731
    if et == "infra_error":
        return row("infra", f"{check.kind} solution not judged ({result})")
    if check.kind == "canonical":
        return None if v.get("passed") else row("canonical", f"canonical solution fails: {et}: {result}")
    if check.kind == "buggy":
        return row("buggy", "buggy solution passes: the tests miss its bug") if v.get("passed") else None
    if check.kind == "stub":
        if v.get("passed"):
            return row("stub", "a todo!() body passes: the tests run nothing")
        if not v.get("compile_ok"):
            return row("stub", f"the test text does not compile against the prompt (todo!() body): {et}: {result}")
        return None
    raise ValueError(f"unknown check kind {check.kind!r}")


# ---- grading -------------------------------------------------------------------------------


class _CheckInputs:
    """The checks as the engine's inputs (``get(path, index) -> (sample, problem)``), so that their programs are
    made by :func:`pytest_heval.sample_programs`, the plugin's own path (completion forms included)."""

    def __init__(self, checks: Sequence[Check]):
        self.checks = checks

    def get(self, path: str, index: int):
        c = self.checks[index]
        return _Completion(c.completion), c.problem


@dataclasses.dataclass(frozen=True)
class _Completion:
    completion: str


_KEEP = ("passed", "error_type", "result", "compile_ok")


def _grade_part(settings: Settings, checks: Sequence[Check], worker: int) -> List[Dict[str, Any]]:
    from .grader import Grader, sample_programs

    with Grader(settings, worker=worker) as g:
        program_of = sample_programs(_CheckInputs(checks), settings, g.toolchain)
        refs = [("validate", i) for i in range(len(checks))]
        return [{k: v.get(k) for k in _KEEP} for _, v in g.grade(refs, program_of)]


def grade_checks(settings: Settings, checks: Sequence[Check], jobs: int = 1) -> List[Dict[str, Any]]:
    """The verdict of each check, in order: one Grader, or ``jobs`` Graders in processes, each grading a
    contiguous share (the problems of a batch stay together)."""
    jobs = max(1, min(jobs, len(checks) // 8 or 1))
    if jobs == 1:
        return _grade_part(settings, checks, 0)
    size = -(-len(checks) // jobs)
    parts = [list(checks[i:i + size]) for i in range(0, len(checks), size)]
    with concurrent.futures.ProcessPoolExecutor(len(parts)) as pool:
        futures = [pool.submit(_grade_part, settings, part, w) for w, part in enumerate(parts)]
        return [v for f in futures for v in f.result()]


# ---- output ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    files: List[Dict[str, Any]]  # per file: path, problems, checks by kind
    rows: List[Broken]

    @property
    def broken_problems(self) -> int:
        return len({(r.file, r.task_id) for r in self.rows if r.check != "infra"})

    @property
    def unjudged(self) -> int:
        return len({(r.file, r.task_id) for r in self.rows if r.check == "infra"})

    def exit_status(self) -> int:
        """1 when any problem is broken (or could not be judged), else 0."""
        return 1 if self.rows else 0

    def as_json(self) -> Dict[str, Any]:
        return {"files": self.files, "problems": sum(f["problems"] for f in self.files),
                "broken_problems": self.broken_problems, "unjudged_problems": self.unjudged,
                "rows": [r.as_dict() for r in self.rows]}

    def table(self) -> List[str]:
        lines = []
        for f in self.files:
            kinds = ", ".join(f"{n} {k}" for k, n in f["checks"].items())
            lines.append(f"{f['path']}: {f['problems']} problems, {kinds} solutions graded")
        if not self.rows:
            lines.append("no broken problem")
            return lines
        w_id = max(len("task_id"), *(len(r.task_id) for r in self.rows))
        w_ck = max(len("check"), *(len(r.check) for r in self.rows))
        several = len(self.files) > 1
        lines.append("")
        lines.append(("file  " if several else "") + f"{'task_id':<{w_id}}  {'check':<{w_ck}}  reason")
        for r in self.rows:
            reason = r.reason.splitlines()[0] if r.reason else ""
            lines.append((os.path.basename(r.file) + "  " if several else "")
                         + f"{r.task_id:<{w_id}}  {r.check:<{w_ck}}  {reason}")
        lines.append("")
        lines.append(f"{self.broken_problems} broken problem(s)"
                     + (f", {self.unjudged} not judged (infra errors)" if self.unjudged else ""))
        return lines


def validate(paths: Sequence[str], settings: Settings, jobs: int = 1) -> Report:
    """Validate the problem files ``paths`` (local paths): the Report of their broken problems."""
    files, rows, all_checks = [], [], []
    order: Dict[Tuple[str, str], int] = {}
    for path in paths:
        problems, checks = load_checks(path)
        kinds: Dict[str, int] = {}
        for c in checks:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        files.append({"path": path, "problems": len(problems), "checks": kinds})
        for p in problems:
            order.setdefault((path, p.task_id), len(order))
            rows += [Broken(path, p.task_id, "static", why) for why in static_findings(p)]
        all_checks += checks
    for c, v in zip(all_checks, grade_checks(settings, all_checks, jobs)):
        b = judge(c, v)
        if b is not None:
            rows.append(b)
    rank = {"static": 0, "canonical": 1, "buggy": 2, "stub": 3, "infra": 4}
    rows.sort(key=lambda r: (order[(r.file, r.task_id)], rank[r.check]))
    return Report(files, rows)


# ---- the command -------------------------------------------------------------------------------


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def add_command(subparsers) -> None:
    """Register ``validate`` (see :mod:`pytest_heval.cli`)."""
    p = subparsers.add_parser("validate", help=HELP, description=HELP + ". Exit status: 0 none broken, "
                              "1 some broken (or not judged), 2 bad usage.")
    p.add_argument("problems", nargs="+", metavar="PROBLEMS_OR_NAME",
                   help="problem file, or a known dataset name (python -m pytest_heval datasets list)")
    p.add_argument("--json", action="store_true", help="print one JSON object (files, counts, rows)")
    p.add_argument("--sandbox", help="auto (default), firejail, bwrap or none")
    p.add_argument("--timeout", help="seconds each solution's tests may run (default 10)")
    p.add_argument("--compile-timeout", help="seconds each solution may take to compile (default 30)")
    p.add_argument("--crates", help="crate sources for rand/regex/md5 (as --heval-crates)")
    p.add_argument("--edition", help="Rust edition for every problem (default: the problem's own)")
    p.add_argument("-j", "--jobs", type=int, default=default_jobs(),
                   help=f"grading processes (default min(2, cpus) = {default_jobs()})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import datasets

    try:
        if args.jobs < 1:
            raise HevalError(f"-j: must be >= 1, got {args.jobs}")
        given = {"sandbox": args.sandbox, "timeout": args.timeout, "compile_timeout": args.compile_timeout,
                 "crates": args.crates, "edition": args.edition}
        settings = Settings.from_values(given.get)
        paths = [str(datasets.resolve(p)) for p in args.problems]
        for p in paths:
            load_checks(p)  # a malformed file is bad usage, found before anything is built
    except HevalError as e:
        e.usage = True
        raise
    report = validate(paths, settings, args.jobs)
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print("\n".join(report.table()))
    return report.exit_status()
