"""Completion forms without rustc: each form's name and text on small hand-written answers, the Rust scanner
under it, and reading MultiPL-E completions files (the same answers are built and run in engine/test_forms.py)."""

from __future__ import annotations

import gzip
import json

import pytest

from pytest_heval.errors import InputError
from pytest_heval.inputs.multipl_e import expand_completions, is_completions_row, load_completions
from pytest_heval.inputs.problems import inline_problem, problem_from_row
from pytest_heval.inputs.samples import load_samples
from pytest_heval.program.forms import Formed, _shape, fenced_blocks, form_completion, form_for, items, mask, use_leaves

from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM, write_jsonl

LIB = problem_from_row("p.jsonl", 1, ADD_PROBLEM)
MAIN = problem_from_row("p.jsonl", 1, ADD_MAIN_PROBLEM)
FULL = "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
OWN_TESTS = "\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn own() { assert_eq!(add(1, 1), 3); }\n}\n"
OWN_MAIN = "\nfn main() {\n    println!(\"{}\", add(1, 2));\n}\n"
HEAD_WITH_ITEMS = problem_from_row("p.jsonl", 1, {
    "task_id": "Dup/0",
    "prompt": "use std::collections::HashMap;\n\nfn twice(x: i32) -> i32 { x * 2 }\n\n/// Add them.\n"
              "fn add(a: i32, b: i32) -> i32 {\n",
    "test": ADD_PROBLEM["test"],
})

CASES = {
    # name: (problem, completion, expected form); every one of them passes once formed (engine/test_forms.py)
    "continuation": (LIB, "    a + b\n}\n", "continuation"),
    "full_function": (LIB, FULL, "full_function"),
    "fenced_with_prose": (LIB, "Sure! Here it is:\n\n```rust\n" + FULL + "```\n\nIt adds `a` and `b`.",
                          "fenced+full_function"),
    "fence_left_open": (LIB, "```rust\n" + FULL, "fenced+full_function"),
    "tilde_fence_untagged": (LIB, "~~~\n" + FULL + "~~~\n", "fenced+full_function"),
    "several_fences": (LIB, "Usage:\n```rust\nfn main() { println!(\"{}\", add(1, 2)); }\n```\nCargo:\n```toml\n"
                            "[dependencies]\n```\nThe function:\n```rust\n" + FULL + "```\n", "fenced+full_function"),
    "fenced_body_only": (LIB, "```rust\n    a + b\n}\n```", "fenced+continuation"),
    "continuation_then_closing_fence": (LIB, "    a + b\n}\n```\n\nThis adds them:\n```rust\nfn main() {}\n```\n",
                                        "fenced+continuation"),
    "own_tests_libtest": (LIB, FULL + OWN_TESTS, "full_function+tests_removed"),
    "continuation_runs_into_own_tests": (LIB, "    a + b\n}\n" + OWN_TESTS, "continuation+tests_removed"),
    "own_main_kept_in_libtest": (LIB, FULL + OWN_MAIN, "full_function"),
    "doc_comment_fences_are_code": (LIB, "/// ```\n/// assert_eq!(add(1, 2), 3);\n/// ```\n" + FULL, "full_function"),
    "name_in_comment_and_string": (LIB, "    // fn add(a, b) -> i32 { is easy\n    let _s = \"fn add() {\";\n"
                                        "    a + b\n}\n", "continuation"),
    "duplicates_of_head": (HEAD_WITH_ITEMS, "use std::collections::{HashMap, HashSet};\n\n"
                                            "fn twice(x: i32) -> i32 { x * 2 }\n\n"
                                            "fn add(a: i32, b: i32) -> i32 {\n    let _m: HashMap<i32, i32> = HashMap::new();\n"
                                            "    let _s: HashSet<i32> = HashSet::new();\n    twice(a) / 2 + b\n}\n",
                           "full_function+duplicates_removed"),
    # MultiPL-E (main style; the test text starts with `}` and closes the prompt's function)
    "main_continuation": (MAIN, "    a + b\n", "continuation"),
    "main_continuation_then_closing_fence": (MAIN, "    a + b\n```\nDone.", "fenced+continuation"),
    "main_continuation_cut": (MAIN, "    a + b\n}\n" + OWN_MAIN, "continuation+cut"),
    "main_continuation_closed": (MAIN, "    a + b\n}\n", "continuation+cut"),
    "main_full_function": (MAIN, FULL, "full_function"),
    "main_full_function_own_main": (MAIN, FULL + OWN_MAIN, "full_function+main_removed"),
    "main_helpers_around": (MAIN, "fn helper(x: i32) -> i32 { x }\n\n" + "fn add(a: i32, b: i32) -> i32 {\n"
                                  "    helper(a) + other(b)\n}\n\nfn other(x: i32) -> i32 { x }\n" + OWN_MAIN,
                            "full_function+main_removed"),
    "main_brackets_in_literals": (MAIN, "```rust\nfn add(a: i32, b: i32) -> i32 {\n    let _s = \"}}{\"; "
                                        "let _r = r#\"}\"#; let _c = '}'; let _l: &'static str = \"{\"; // }\n"
                                        "    /* { */ a + b\n}\n" + OWN_MAIN + "```",
                                  "fenced+full_function+main_removed"),
}


def program(problem, formed: Formed) -> str:
    """What standalone rustc builds for a formed sample (the engine adds its hardening and exit guard)."""
    return formed.head + formed.completion + "\n" + problem.test


@pytest.mark.parametrize("case", sorted(CASES))
def test_form_names_and_raw(case):
    problem, completion, expected = CASES[case]
    formed = form_for(problem, completion)
    assert formed.form == expected
    assert form_for(problem, completion, "raw") == Formed("raw", problem.head, completion)
    # a plain continuation is built as it was written; every other form changes the program
    assert (program(problem, formed) == problem.head + completion + "\n" + problem.test) == (expected == "continuation")


def test_full_function_keeps_the_heads_other_text():
    formed = form_for(HEAD_WITH_ITEMS, CASES["duplicates_of_head"][1])
    assert formed.head == HEAD_WITH_ITEMS.head[:HEAD_WITH_ITEMS.head.index("fn add")]
    assert "/// Add them.\n" in formed.head and "fn twice" in formed.head
    assert "fn twice" not in formed.completion
    assert "use std::collections::HashSet;" in formed.completion and "HashMap," not in formed.completion


def test_main_style_full_function_leaves_its_brace_to_the_test():
    src = program(MAIN, form_for(MAIN, CASES["main_helpers_around"][1]))
    # the answer's function goes last, open; the test's leading `}` closes it
    assert src.index("fn helper") < src.index("fn other") < src.index("fn add")
    assert src.count("fn main") == 1


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown completion form mode 'x'"):
        form_completion("", "", "libtest", "", "x")


def test_scanner_pieces():
    assert mask('a "{" b // }\nc') == 'a " " b     \nc'
    its = items("use a::b;\n#[derive(Debug)]\nstruct S { x: i32 }\nconst C: S = S { x: 1 };\nfn f() -> i32 {\n")
    assert [(i.kind, i.name, i.closed) for i in its] == [
        ("use", None, True), ("struct", "S", True), ("const", "C", True), ("fn", "f", False)]
    assert its[1].attrs == ("#[derive(Debug)]",)
    assert use_leaves("use std::{cmp::{max, self}, io::Read as R};") == [
        ("max", "std::cmp::max"), ("cmp", "std::cmp"), ("R", "std::io::Read")]
    assert fenced_blocks("x\n```rust\na\n```\n`not a fence```\n```py\nb\n") == [("rust", "a\n"), ("py", "b\n")]
    sh = _shape(MAIN.head, MAIN.test)
    assert (sh.open_fn, sh.test_closes, sh.test_main) == ("add", True, True)


# --- MultiPL-E completions files --------------------------------------------------------------------------------

ROW = {"name": "HumanEval_0_add", "language": "rs", "temperature": 0.2, "prompt": "fn add(a: i32, b: i32) -> i32 {\n",
       "tests": "}\n\nfn main() {\n    assert_eq!(add(2, 3), 5);\n}\n", "stop_tokens": ["\n}"],
       "completions": ["    a + b\n", "    a - b\n", "    a + b\n}\n\nfn main() {}\n"]}


@pytest.mark.parametrize("loader", [load_completions, load_samples])
def test_completions_file_expands_in_order(tmp_path, loader):
    """load_samples (what the plugin reads) takes completions rows as well as plain sample rows."""
    rows = [ROW, dict(ROW, name="HumanEval_1_add", completions=["    b + a\n"])]
    if loader is load_samples:
        rows.append({"task_id": "HumanEval_0_add", "completion": "    a + b\n", "prompt": ROW["prompt"],
                     "tests": ROW["tests"]})
    samples = loader(str(write_jsonl(tmp_path / "c.jsonl", rows)))
    assert [(s.index, s.line, s.task_id, s.row.get("completion_index")) for s in samples][:4] == [
        (0, 1, "HumanEval_0_add", 0), (1, 1, "HumanEval_0_add", 1), (2, 1, "HumanEval_0_add", 2),
        (3, 2, "HumanEval_1_add", 0)]
    assert [s.index for s in samples] == list(range(len(samples)))
    assert "completions" not in samples[0].row and samples[0].row["temperature"] == 0.2
    problems = [inline_problem(s.path, s.line, s.row) for s in samples]
    assert {(p.fmt, p.style, p.edition) for p in problems} == {("multipl-e", "main", "2015")}
    forms = [form_for(p, s.completion).form for p, s in zip(problems, samples)]
    assert forms[:4] == ["continuation", "continuation", "continuation+cut", "continuation"]


def test_completions_file_as_one_json_object(tmp_path):
    """MultiPL-E's own output: one indented JSON object per problem, gzip-compressed."""
    path = tmp_path / "HumanEval_0_add.json.gz"
    path.write_bytes(gzip.compress(json.dumps(ROW, indent=2).encode()))
    assert [s.completion for s in load_completions(str(path))] == ROW["completions"]
    assert is_completions_row(ROW) and not is_completions_row({"task_id": "x", "completion": ""})


@pytest.mark.parametrize("loader", [load_completions, load_samples])
@pytest.mark.parametrize("change, field, message", [
    ({"completions": ["ok", 3]}, "completions[1]", "must be a string, got int"),
    ({"completions": []}, "completions", "is empty"),
    ({"completions": "x"}, "completions", "must be a list of strings"),
    ({"tests": None}, "tests", "must be a string"),
    ({"name": ""}, "name", "must not be empty"),
    ({"language": "py"}, "language", "only Rust"),
])
def test_completions_file_errors_name_file_line_field(tmp_path, loader, change, field, message):
    path = write_jsonl(tmp_path / "c.jsonl", [ROW, dict(ROW, **change)])
    with pytest.raises(InputError, match=message) as e:
        loader(str(path))
    assert (e.value.path, e.value.line, e.value.field) == (str(path), 2, field)
    assert str(e.value).startswith(f"{path}:2: field '{field}'")


def test_completions_file_missing_field_and_wrong_rows(tmp_path):
    row = {k: v for k, v in ROW.items() if k != "prompt"}
    with pytest.raises(InputError, match="missing required field") as e:
        expand_completions("f.jsonl", 7, row)
    assert (e.value.line, e.value.field) == (7, "prompt")
    path = write_jsonl(tmp_path / "c.jsonl", [ROW, {"task_id": "x", "completion": "y"}])
    with pytest.raises(InputError, match="not a MultiPL-E completions row") as e:
        load_completions(str(path))
    assert e.value.line == 2
