"""`pytest --heval` with completion forms: `--heval-completion-form auto|raw` (and its ini key), `completion_form`
in every result row, the counts in the metrics file and the summary, MultiPL-E completions files as samples
files, and real chat answers graded in the sandbox as standalone rustc grades the program `auto` extracted."""

from __future__ import annotations

import json

import pytest

from pytest_heval.inputs.problems import problem_from_row
from pytest_heval.program.forms import form_for

from tests.engine.test_forms import verdicts
from tests.helpers import ADD_PROBLEM, read_jsonl, result_rows, write_jsonl
from tests.unit.test_forms import FULL, OWN_TESTS, ROW, program

SAMPLES = [
    {"task_id": "Add/0", "completion": "    a + b\n}\n"},
    {"task_id": "Add/0", "completion": FULL},
    {"task_id": "Add/0", "completion": "Here:\n```rust\n" + FULL + OWN_TESTS + "```\nDone."},
    {"task_id": "Add/0", "completion": "```rust\nfn add(a: i32, b: i32) -> i32 { a - b }\n```"},
]
AUTO_FORMS = ["continuation", "full_function", "fenced+full_function+tests_removed", "fenced+full_function"]


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *[str(a) for a in args])


def _files(pytester):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    return write_jsonl(pytester.path / "samples.jsonl", SAMPLES), write_jsonl(pytester.path / "multiple.jsonl", [ROW])


def test_auto_is_the_default_and_raw_builds_as_given(pytester):
    samples, multiple = _files(pytester)
    r = run(pytester, "--heval", samples, multiple, "--heval-problems", "problems.jsonl", "-n", "2")
    assert r.ret == 1
    rows = result_rows(samples)
    assert [x["completion_form"] for x in rows] == AUTO_FORMS
    assert [x["passed"] for x in rows] == [True, True, True, False]
    assert rows[3]["error_type"] == "test_failure"
    m = json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())
    assert m["completion_form"] == "auto"
    assert m["completion_forms"] == {f: 1 for f in AUTO_FORMS}
    out = r.stdout.str()
    assert "completion forms (auto): continuation=1, full_function=1" in out
    # the MultiPL-E completions file: one item and one result row per completion
    mrows = result_rows(multiple)
    assert [(x["sample_index"], x["task_id"], x["completion_index"], x["completion_form"], x["passed"])
            for x in mrows] == [(0, "HumanEval_0_add", 0, "continuation", True),
                                (1, "HumanEval_0_add", 1, "continuation", False),
                                (2, "HumanEval_0_add", 2, "continuation+cut", True)]
    assert "(3 rows for 3 samples: complete;" in out

    r = run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl", "--heval-completion-form", "raw")
    rows = result_rows(samples)
    assert [x["completion_form"] for x in rows] == ["raw"] * 4
    assert [x["passed"] for x in rows] == [True, False, False, False]
    assert [x["error_type"] for x in rows[1:]] == ["compile_error"] * 3
    assert "completion forms (raw): raw=4" in r.stdout.str()


def test_ini_key_and_the_command_line_wins(pytester):
    samples, _ = _files(pytester)
    pytester.makeini("[pytest]\nheval_completion_form = raw\n")
    run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl")
    assert {x["completion_form"] for x in result_rows(samples)} == {"raw"}
    run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl", "--heval-completion-form", "auto")
    assert [x["completion_form"] for x in result_rows(samples)] == AUTO_FORMS


def test_bad_value_is_a_usage_error(pytester):
    samples, _ = _files(pytester)
    r = run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl", "--heval-completion-form", "guess")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "guess" in r.stderr.str() and "auto" in r.stderr.str()
    pytester.makeini("[pytest]\nheval_completion_form = guess\n")
    r = run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--heval-completion-form: 'guess' is not one of auto, raw" in r.stderr.str()


def test_chat_answers_in_the_sandbox_match_standalone_rustc(pytester, datasets):
    """One chat answer in four, as a MultiPL-E completions file, graded by the plugin (firejail, -n 2): each
    verdict is standalone rustc's on the program `auto` extracted (edition 2015)."""
    rows = read_jsonl(datasets / "sandboxfusion-humaneval-rs-chat-answers.jsonl")[::4]
    path = write_jsonl(pytester.path / "chat.jsonl", [
        {"name": r["name"], "language": "rs", "prompt": r["prompt"], "tests": r["tests"],
         "completions": [r["gpt_solution"]]} for r in rows])
    r = run(pytester, "--heval", path, "--heval-sandbox", "firejail", "-n", "2")
    assert r.ret in (0, 1)
    got = result_rows(path)
    assert len(got) == len(rows)
    jobs = []
    for row in rows:
        problem = problem_from_row("chat", 1, {"name": row["name"], "prompt": row["prompt"], "tests": row["tests"]})
        jobs.append((program(problem, form_for(problem, row["gpt_solution"])), "2015", False))
    reference = verdicts(jobs)
    assert [(x["task_id"], x["passed"]) for x in got] == [(row["name"], v == "passed")
                                                          for row, v in zip(rows, reference)]
    assert sum(x["passed"] for x in got) >= 30
    assert all(x["completion_form"].startswith("fenced+full_function") for x in got)
