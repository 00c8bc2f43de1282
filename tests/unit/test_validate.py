"""validate's pure parts: reading the checks, the static findings, judging hand-made verdicts, the table, the JSON,
the exit status; usage errors of the command (nothing is built)."""

from __future__ import annotations

import json

import pytest

from pytest_heval.cli import main
from pytest_heval.inputs.problems import problem_from_row
from pytest_heval.validate import (STUB, Broken, Check, Report, judge, load_checks, static_findings)
from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM, write_jsonl


def _problem(row):
    return problem_from_row("p.jsonl", 1, row)


def _check(kind, row=ADD_PROBLEM):
    return Check("p.jsonl", "Add/0", kind, _problem(row), "x")


def _v(passed, error_type=None, compile_ok=True, result="r"):
    return {"passed": passed, "error_type": error_type, "compile_ok": compile_ok, "result": result}


def test_checks_per_format(tmp_path):
    he = write_jsonl(tmp_path / "he.jsonl", [dict(ADD_PROBLEM, canonical_solution="    a + b\n}\n")])
    pack = write_jsonl(tmp_path / "pack.jsonl", [{"task_id": "Rust/0", "prompt": "", "declaration":
                                                  "fn add(a: i32, b: i32) -> i32 {\n", "test": ADD_PROBLEM["test"],
                                                  "canonical_solution": "a + b }", "buggy_solution": "a - b }"}])
    me = write_jsonl(tmp_path / "me.jsonl", [ADD_MAIN_PROBLEM])
    assert [c.kind for c in load_checks(str(he))[1]] == ["canonical"]
    assert [(c.kind, c.completion) for c in load_checks(str(pack))[1]] == [("canonical", "a + b }"),
                                                                          ("buggy", "a - b }")]
    problems, checks = load_checks(str(me))
    assert [(p.task_id, c.kind, c.completion) for p, c in zip(problems, checks)] == [("AddMain_0", "stub", STUB)]


def test_static_contradictory_asserts():
    row = dict(ADD_MAIN_PROBLEM, tests="}\n\nfn main() {\n    let candidate = any_int;\n"
               "    assert_eq!(candidate(3.0, 4.0, 7.0), true);\n    assert_eq!(candidate(3.0,4.0,7.0), false);\n}\n")
    found = static_findings(_problem(row))
    assert found == ["contradictory asserts: candidate(3.0, 4.0, 7.0) == true (test line 5) and == false (line 6)"]


@pytest.mark.parametrize("a,b", [
    ('f("apple pie")', 'f("applepie")'),  # string contents are not whitespace-insensitive
    ("f(1)", "f(2)"),
    ("f(1) /* x */", "f(1)"),  # same call, same value (1 and 1.0 differ only as literals)
])
def test_static_no_false_contradiction(a, b):
    test = f"}}\n\nfn main() {{\n    assert_eq!({a}, 1.0);\n    assert_eq!({b}, 1.00);\n}}\n"
    assert static_findings(_problem(dict(ADD_MAIN_PROBLEM, tests=test))) == []
    test = f"}}\n\nfn main() {{\n    assert_eq!({a}, 1.0);\n    assert_eq!({a}, 2.0);\n}}\n"  # the control
    assert len(static_findings(_problem(dict(ADD_MAIN_PROBLEM, tests=test)))) == 1


def test_static_assert_forms():
    test = "}\nfn main() {\n    assert!(is_ok(2));\n    assert!(!is_ok(2));\n    assert!(is_ok(3) == true);\n}\n"
    assert static_findings(_problem(dict(ADD_MAIN_PROBLEM, tests=test))) == [
        "contradictory asserts: is_ok(2) == true (test line 3) and == false (line 4)"]


def test_static_commented_out_and_truncated_tests():
    commented = dict(ADD_PROBLEM, test="/*\n" + ADD_PROBLEM["test"] + "*/\n")
    assert static_findings(_problem(commented)) == [
        "no test runs: the test text has no #[test] function outside comments (it is commented out)"]
    truncated = dict(ADD_PROBLEM, test="#[cfg(test)]\nmod tests {\n    use super::*;\n\n    // BEGIN_TESTS\n\n    ")
    assert static_findings(_problem(truncated)) == [
        "truncated test text: it ends with 1 bracket(s) still open and defines no #[test] function"]
    assert static_findings(_problem(ADD_PROBLEM)) == []
    assert static_findings(_problem(ADD_MAIN_PROBLEM)) == []
    empty_main = dict(ADD_MAIN_PROBLEM, tests="}\n\nfn main() {\n    // assert_eq!(add(1, 2), 3);\n}\n")
    assert static_findings(_problem(empty_main)) == ["no test runs: fn main asserts nothing"]


@pytest.mark.parametrize("kind,verdict,want", [
    ("canonical", _v(True), None),
    ("canonical", _v(False, "compile_error", False, "failed: error: this file contains an unclosed delimiter"),
     "canonical solution fails: compile_error: failed: error: this file contains an unclosed delimiter"),
    ("canonical", _v(False, "test_failure", result="failed: no test ran"),
     "canonical solution fails: test_failure: failed: no test ran"),
    ("buggy", _v(False, "test_failure"), None),
    ("buggy", _v(False, "compile_error", False), None),
    ("buggy", _v(True), "buggy solution passes: the tests miss its bug"),
    ("stub", _v(False, "test_failure"), None),
    ("stub", _v(True), "a todo!() body passes: the tests run nothing"),
    ("stub", _v(False, "compile_error", False, "failed: error[E0308]"),
     "the test text does not compile against the prompt (todo!() body): compile_error: failed: error[E0308]"),
])
def test_judge(kind, verdict, want):
    b = judge(_check(kind), verdict)
    assert (b.reason if b else None) == want
    if b:
        assert (b.check, b.task_id, b.error_type) == (kind, "Add/0", verdict["error_type"])


def test_judge_infra_is_not_judged():
    b = judge(_check("canonical"), _v(False, "infra_error", False, "infra error: sandbox died"))
    assert (b.check, b.reason) == ("infra", "canonical solution not judged (infra error: sandbox died)")


FILES = [{"path": "/d/sigil.jsonl", "problems": 3, "checks": {"canonical": 3}}]


def test_report_none_broken():
    r = Report(FILES, [])
    assert r.exit_status() == 0
    assert r.table() == ["/d/sigil.jsonl: 3 problems, 3 canonical solutions graded", "no broken problem"]
    assert r.as_json() == {"files": FILES, "problems": 3, "broken_problems": 0, "unjudged_problems": 0, "rows": []}


def test_report_table_and_json():
    rows = [Broken("/d/sigil.jsonl", "CodeGen/1", "static", "truncated test text"),
            Broken("/d/sigil.jsonl", "CodeGen/1", "canonical", "canonical solution fails: x\nmore", "compile_error"),
            Broken("/d/sigil.jsonl", "Fix/22", "infra", "canonical solution not judged (y)", "infra_error")]
    r = Report(FILES, rows)
    assert r.exit_status() == 1
    assert r.broken_problems == 1 and r.unjudged == 1
    assert r.table() == [
        "/d/sigil.jsonl: 3 problems, 3 canonical solutions graded",
        "",
        "task_id    check      reason",
        "CodeGen/1  static     truncated test text",
        "CodeGen/1  canonical  canonical solution fails: x",
        "Fix/22     infra      canonical solution not judged (y)",
        "",
        "1 broken problem(s), 1 not judged (infra errors)",
    ]
    j = json.loads(json.dumps(r.as_json()))
    assert j["broken_problems"] == 1 and j["unjudged_problems"] == 1 and j["problems"] == 3
    assert j["rows"][1] == {"file": "/d/sigil.jsonl", "task_id": "CodeGen/1", "check": "canonical",
                            "reason": "canonical solution fails: x\nmore", "error_type": "compile_error"}


def test_report_only_infra_still_exits_1():
    r = Report(FILES, [Broken("/d/sigil.jsonl", "Fix/22", "infra", "not judged", "infra_error")])
    assert r.broken_problems == 0 and r.exit_status() == 1


@pytest.mark.parametrize("argv,message", [
    (["validate", "no-such-set"], "not a known dataset name"),
    (["validate", "-j", "0", "x"], "-j: must be >= 1"),
    (["validate", "--timeout", "soon", "x"], "--heval-timeout"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_malformed_problem_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "A/1", "prompt": "fn f() {", "test": 3}\n')
    assert main(["validate", str(bad)]) == 2
    assert f"{bad}:1: field 'test'" in capsys.readouterr().err


def test_no_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["validate"])
    assert e.value.code == 2
