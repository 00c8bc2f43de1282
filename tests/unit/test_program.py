"""Unit tests (no rustc) for program.py: assembling, hardening the test text, expected tests, key, exit guard."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pytest_heval.inputs.problems import Problem, load_problems, problem_from_row
from pytest_heval.program import SEPARATOR
from pytest_heval.program.harden import PRELUDE_PATHS, _code_spans
from pytest_heval.program import (TAMPER_EXIT, TAMPER_MESSAGE, Program, assemble, exit_guard, expected_tests,
                                  harden_test)

from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM

MACROS = ("assert", "assert_eq", "assert_ne", "debug_assert", "debug_assert_eq", "debug_assert_ne",
          "panic", "unreachable", "todo", "unimplemented", "vec", "format", "matches", "write", "writeln", "print",
          "println", "eprint", "eprintln", "concat", "stringify", "format_args")

LIB = problem_from_row("p.jsonl", 1, ADD_PROBLEM)
MAIN = problem_from_row("p.json", 1, ADD_MAIN_PROBLEM)
COMPLETION = "    a + b\n}\n"


# ---------------------------------------------------------------- harden_test


@pytest.mark.parametrize("macro", MACROS)
def test_harden_each_macro(macro):
    assert harden_test(f"    {macro}!(x);\n") == f"    ::std::{macro}!(x);\n"
    assert harden_test(f"{macro}![1]") == f"::std::{macro}![1]"
    assert harden_test(f"{macro}!{{}}") == f"::std::{macro}!{{}}"


def test_harden_the_add_test():
    h = harden_test(ADD_PROBLEM["test"])
    assert h.count("::std::assert_eq!(add(") == 2
    assert re.search(r"(?<!::std::)\bassert_eq!", h) is None
    assert "#[test]" in h and "#[cfg(test)]" in h and "use super::*;" in h


def test_harden_keeps_whitespace_before_bang():
    assert harden_test("assert !(a)") == "::std::assert !(a)"
    assert harden_test("assert_eq\n!(a, b)") == "::std::assert_eq\n!(a, b)"


def test_harden_leaves_paths_and_other_macros_alone():
    for text in ("std::assert_eq!(a, b);", "::std::assert!(x);", "core::panic!(\"x\");", "my_assert!(x);",
                 "assert_eq_sorted!(a, b);", "assertx!(1);", "debug_assert_eq_x!(1);", "$assert!(1)",
                 "let assert = 1;", "fn assert_eq() {}", "x.assert(1)", "my_vec![1, 2]", "dbg!(1)"):
        assert harden_test(text) == text, text


def test_harden_debug_macros_are_not_split():
    assert harden_test("debug_assert_ne!(a, b)") == "::std::debug_assert_ne!(a, b)"
    assert "debug_::std::" not in harden_test("debug_assert!(a); debug_assert_eq!(a, b)")


@pytest.mark.parametrize("attr", ["#[should_panic]", '#[should_panic(expected = "boom")]',
                                  "#[should_panic(expected = \"attempt to subtract with overflow\")]"])
def test_harden_leaves_should_panic_attributes(attr):
    test = f"#[test]\n{attr}\nfn t() {{\n    panic!(\"boom\");\n}}\n"
    h = harden_test(test)
    assert attr in h
    assert "::std::panic!(\"boom\")" in h
    assert h.replace("::std::panic!", "panic!") == test


def test_harden_is_idempotent():
    once = harden_test(ADD_PROBLEM["test"] + "\nfn x() { assert!(true); todo!() }\n")
    assert harden_test(once) == once


def test_harden_leaves_string_literals_alone():
    """The test's own string data must not change: only macro invocations are rewritten.

    Rewriting inside a literal changes what the test checks (here the expected value)."""
    test = 'assert_eq!(describe("panic!"), "todo!");\nassert_eq!(f(r"assert!(x)"), 1);\n'
    h = harden_test(test)
    assert h.startswith("::std::assert_eq!(describe(")
    assert '"panic!"' in h and '"todo!"' in h and 'r"assert!(x)"' in h
    assert "::std::" not in h.replace("::std::assert_eq!", "")


def test_harden_real_datasets_only_prefixes_macros(datasets):
    names = ["humaneval-rust-164.jsonl", "humaneval-rust-sigil-180.jsonl", "humaneval-x-rust.jsonl.gz",
             "humanevalpack-rust.jsonl", "multipl-e-humaneval-rs-keep.json"]
    pat = re.compile(r"::std::(" + "|".join(MACROS) + r")(\s*)!")
    unqualified = re.compile(r"(?<![\w:$!])\b(" + "|".join(MACROS) + r")\s*!")
    n = 0
    for name in names:
        for p in load_problems([str(datasets / name)]).values():
            h = harden_test(p.test)
            if "::std::" not in p.test:
                undone = pat.sub(r"\1\2!", h)
                for name, path in sorted(PRELUDE_PATHS.items(), key=lambda kv: -len(kv[1])):
                    undone = undone.replace(path, name)
                assert undone == p.test, p.task_id
            code = "".join(chunk for is_code, chunk in _code_spans(h) if is_code)
            assert unqualified.search(code) is None, p.task_id  # left alone only in comments and strings
            n += h != p.test
    assert n > 600  # nearly every test asserts something


# ---------------------------------------------------------------- expected_tests


def test_expected_tests_add():
    assert expected_tests(ADD_PROBLEM["test"]) == ("test_add",)


def test_expected_tests_attributes_and_qualifiers():
    test = (
        "#[cfg(test)]\nmod tests {\n"
        "    #[test]\n    fn plain() {}\n"
        "    # [ test ]\n    fn spaced() {}\n"
        "    #[test] fn same_line() {}\n"
        "    #[test]\n    #[should_panic]\n    fn panics() {}\n"
        "    #[test]\n    #[should_panic(expected = \"boom\")]\n    #[ignore]\n    pub fn two_attrs() {}\n"
        "    #[test]\n    async fn asy() {}\n"
        "    #[test]\n    unsafe fn uns() {}\n"
        "    fn helper() {}\n"
        "    #[cfg(test)]\n    fn not_a_test() {}\n"
        "}\n"
    )
    assert expected_tests(test) == ("plain", "spaced", "same_line", "panics", "two_attrs", "asy", "uns")


def test_expected_tests_none():
    assert expected_tests(ADD_MAIN_PROBLEM["tests"]) == ()
    assert expected_tests("#[cfg(test)]\nmod tests {\n    fn helper() {}\n}\n") == ()


def test_expected_tests_comment_between_attribute_and_fn():
    """A comment (line, doc or block) between ``#[test]`` and ``fn`` does not make the test anonymous."""
    test = ("#[test]\n    // a comment\n    fn line_comment() {}\n"
            "#[test]\n/// doc\nfn doc_comment() {}\n"
            "#[test] /* block */ fn block_comment() {}\n")
    assert expected_tests(test) == ("line_comment", "doc_comment", "block_comment")


def test_expected_tests_bracket_inside_attribute_string():
    test = "#[test]\n#[should_panic(expected = \"index [3] out of range\")]\nfn indexed() {}\n"
    assert expected_tests(test) == ("indexed",)


def test_expected_tests_real_datasets_name_every_test(datasets):
    """Every ``#[test]`` of the public datasets is named (HumanEval/50 has a comment before its fn)."""
    short = []
    for name in ["humaneval-rust-164.jsonl", "humaneval-rust-sigil-180.jsonl", "humaneval-x-rust.jsonl.gz",
                 "humanevalpack-rust.jsonl"]:
        for p in load_problems([str(datasets / name)]).values():
            # HumanEval-X's Rust/32 has its whole test inside /* */: no test to name there
            code = "".join(chunk for is_code, chunk in _code_spans(p.test) if is_code)
            n_attrs = len(re.findall(r"#\s*\[\s*test\s*\]", code))
            if len(expected_tests(p.test)) != n_attrs:
                short.append(f"{name}:{p.task_id}")
    assert short == []


# ---------------------------------------------------------------- exit guard


def test_exit_guard_contents():
    g = exit_guard()
    assert "mod __heval_exit_guard" in g
    for fn in ("exit", "_exit", "_Exit", "quick_exit"):
        assert f'\n    extern "C" fn {fn}(code: i32) -> !' in g
    assert "pub " not in g  # nothing a completion could reach by path (issue 9, item 3)
    assert 'extern "C" fn __wrap_main(' in g and "fn __real_main(" in g  # the harness-owned main, wrapped
    assert g.count("#[unsafe(no_mangle)]") == 5 and "#[no_mangle]" not in g
    assert TAMPER_MESSAGE in g
    assert re.search(rf"\b{TAMPER_EXIT}\b", g)
    assert re.search(r"@[A-Z_]+@", g) is None  # every placeholder filled


def test_exit_guard_old_attrs():
    g = exit_guard(unsafe_attrs=False)
    assert g.count("#[no_mangle]") == 5 and "unsafe(no_mangle)" not in g
    assert TAMPER_MESSAGE in g and re.search(r"@[A-Z_]+@", g) is None


def test_tamper_constants():
    assert TAMPER_EXIT == 86
    assert TAMPER_EXIT not in (0, 1, 101)
    assert "\n" not in TAMPER_MESSAGE and '"' not in TAMPER_MESSAGE and "\\" not in TAMPER_MESSAGE


# ---------------------------------------------------------------- assemble / Program


def test_assemble_libtest():
    prog = assemble(LIB, COMPLETION)
    assert prog.style == "libtest" and prog.edition == "2021"
    assert prog.expected_tests == ("test_add",)
    expected = ADD_PROBLEM["prompt"] + COMPLETION + SEPARATOR + harden_test(ADD_PROBLEM["test"]) + "\n" + exit_guard()
    assert prog.source == expected
    assert "::std::assert_eq!(add(2, 3), 5);" in prog.source
    assert "mod __heval_exit_guard" in prog.source
    assert prog.source.rstrip().endswith("}")


def test_assemble_main_style():
    prog = assemble(MAIN, COMPLETION)
    assert prog.style == "main" and prog.edition == "2015" and prog.expected_tests == ()
    assert prog.source.startswith(ADD_MAIN_PROBLEM["prompt"] + COMPLETION + "\n")
    assert "::std::assert_eq!(candidate(2, 3), 5);" in prog.source
    assert "mod __heval_exit_guard" in prog.source


def test_assemble_completion_not_hardened():
    """Only the problem's test is rewritten: the completion is compiled as written."""
    completion = "    assert!(a > -100); a + b\n}\n"
    prog = assemble(LIB, completion)
    assert ADD_PROBLEM["prompt"] + completion in prog.source


def test_assemble_edition_override_and_attrs():
    assert assemble(LIB, COMPLETION, edition="2024").edition == "2024"
    assert assemble(LIB, COMPLETION, edition=None).edition == "2021"
    old = assemble(LIB, COMPLETION, unsafe_attrs=False)
    assert "#[no_mangle]" in old.source and "unsafe(no_mangle)" not in old.source


def test_assemble_uses_humanevalx_declaration():
    p = problem_from_row("x.jsonl", 1, {"task_id": "Rust/0", "prompt": "fn main(){}\nfn add(a: i32, b: i32) -> i32 {\n",
                                        "declaration": "fn add(a: i32, b: i32) -> i32 {\n", "test": ADD_PROBLEM["test"]})
    prog = assemble(p, COMPLETION)
    assert prog.source.startswith("fn add(a: i32, b: i32) -> i32 {\n" + COMPLETION)
    assert "fn main(){}" not in prog.source


def test_key_identical_for_identical_inputs():
    a = assemble(LIB, COMPLETION)
    b = assemble(problem_from_row("other.jsonl", 7, dict(ADD_PROBLEM)), COMPLETION)
    assert a == b
    assert a.key == b.key
    assert re.fullmatch(r"[0-9a-f]{64}", a.key)


def test_key_differs_otherwise():
    base = assemble(LIB, COMPLETION)
    others = [
        assemble(LIB, COMPLETION + " "),
        assemble(LIB, COMPLETION, edition="2018"),
        assemble(LIB, COMPLETION, unsafe_attrs=False),
        assemble(problem_from_row("p", 1, dict(ADD_PROBLEM, test=ADD_PROBLEM["test"] + "\n")), COMPLETION),
        assemble(problem_from_row("p", 1, dict(ADD_PROBLEM, prompt="pub " + ADD_PROBLEM["prompt"])), COMPLETION),
        Program(base.source, "main", base.edition, ()),
    ]
    keys = {base.key} | {o.key for o in others}
    assert len(keys) == len(others) + 1


def test_key_fields_are_separated():
    assert Program("1x", "main", "202", ()).key != Program("x", "main", "2021", ()).key
    assert Program("s", "mainx", "2021", ()).key != Program("s", "main", "x2021", ()).key


def test_key_handles_surrogates():
    k = Program("fn main() {} // \udcff", "main", "2021", ()).key
    assert k != Program("fn main() {} // ", "main", "2021", ()).key


def test_problem_and_program_are_frozen():
    p = Problem("T", "h", "t", "2021", "humaneval", "p:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.task_id = "U"  # type: ignore[misc]
    prog = assemble(p, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        prog.source = ""  # type: ignore[misc]
    assert prog.source.startswith("h\nt\n")  # main style: no separator
