"""Batched builds (many samples per rustc) must give exactly the verdicts of one-sample-per-rustc builds."""

from __future__ import annotations

import pytest

from tests.helpers import read_jsonl, write_jsonl
from pytest_heval.inputs.problems import Problem, load_problems
from pytest_heval.program import PROOF, PROOF_PREFIX, assemble
from pytest_heval.verdict import classify_run
from tests.helpers import grader


@pytest.fixture(scope="module")
def executor():
    with grader("firejail", timeout=5) as g:
        yield g


def judge_all(g, programs, batched: bool):
    return g.grade_programs(programs, batch=None if batched else 1)


def test_batched_equals_unbatched_on_sigil_180(executor, datasets):
    """humaneval-rust-sigil-180 (edition 2024): canonical solutions, plus the same with every tenth one
    broken so that batches hold modules that fail to compile."""
    problems = load_problems([str(datasets / "humaneval-rust-sigil-180.jsonl")])
    rows = read_jsonl(datasets / "humaneval-rust-sigil-180.jsonl")
    programs = []
    for i, r in enumerate(rows):
        completion = r["canonical_solution"]
        if i % 10 == 3:
            completion = completion.replace("let ", "let let ", 1) if "let " in completion else "}}" + completion
        elif i % 10 == 7:
            completion = "    let _undefined = not_a_function_anywhere();\n" + completion
        programs.append(assemble(problems[r["task_id"]], completion))
    batched = judge_all(executor, programs[:90], True) + judge_all(executor, programs[90:], True)
    alone = judge_all(executor, programs, False)
    diff = [(rows[i]["task_id"], b["error_type"], a["error_type"])
            for i, (b, a) in enumerate(zip(batched, alone))
            if (b["passed"], b["error_type"]) != (a["passed"], a["error_type"])]
    assert diff == []
    assert sum(v["error_type"] == "compile_error" for v in batched) >= 36  # the broken ones, at least
    assert sum(v["passed"] for v in batched) >= 100
    # a compile error's stderr is its own standalone build's: it names its own file, not a batch module
    for b, a in zip(batched, alone):
        if b["error_type"] == "compile_error":
            assert "s00" not in b["stderr"] and "main.rs" in b["stderr"]


ADD = Problem("A/0", "fn add(a: i32, b: i32) -> i32 {\n",
              "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(2, 3), 5); }\n}\n",
              "2021", "humaneval", "test")


def test_samples_of_one_batch_cannot_touch_each_other(executor):
    writer = ('let _ = std::fs::write("left-behind", "x"); '
              'let _ = std::fs::write(std::env::current_exe().unwrap(), b"clobbered"); a + b\n}\n')
    reader = 'if std::path::Path::new("left-behind").exists() { 0 } else { a + b }\n}\n'
    programs = [assemble(ADD, writer), assemble(ADD, reader), assemble(ADD, "  a + b // third\n}\n")]
    builds = executor.builder.batch_builds
    verdicts = executor.grade_programs(programs)
    assert executor.builder.batch_builds == builds + 1  # one crate for the three
    assert [v["passed"] for v in verdicts] == [True, True, True], [v["result"] for v in verdicts]


# ---- main style (MultiPL-E: the tests are the program's fn main) -------------------------------------------------

def _main_style_samples(datasets, tmp_path):
    """The chat answers of sandboxfusion-humaneval-rs as completions of multipl-e-humaneval-rs-keep (edition 2015),
    plus deliberately broken ones in the MultiPL-E continuation form (a body the test's ``}`` closes): compile
    errors, wrong answers, panics, exits 0, a second ``fn main``, a read of the command line, endless loops."""
    answers = read_jsonl(datasets / "sandboxfusion-humaneval-rs-chat-answers.jsonl")
    broken = ["    not_a_function_anywhere()\n", "    let let x = 1;\n", "    Default::default()\n",
              "    panic!(\"deliberate\")\n", "    std::process::exit(0)\n", "    unimplemented!()\n}\nfn main() {\n",
              "    if std::env::args().count() > 1 { loop {} } unimplemented!()\n", "    Default::default()\n}\nuse Foo::*;\nfn _f() {\n"]
    rows = [{"task_id": a["task_id"], "completion": a["gpt_solution"]} for a in answers]
    for i, a in enumerate(answers[::3]):
        rows.append({"task_id": a["task_id"], "completion": broken[i % len(broken)]})
    for a in answers[:3]:
        rows.append({"task_id": a["task_id"], "completion": "    loop {}\n"})
    return write_jsonl(tmp_path / "mp.jsonl", rows)


def test_main_style_batched_equals_unbatched_on_multipl_e(datasets, tmp_path):
    from pytest_heval import Inputs, sample_programs

    samples = str(_main_style_samples(datasets, tmp_path))
    inputs = Inputs([str(datasets / "multipl-e-humaneval-rs-keep.json")])
    refs = [(samples, s.index) for s in inputs.load(samples).samples]
    with grader("firejail", timeout=2) as g:
        program_of = sample_programs(inputs, g.settings, g.toolchain)
        programs = [program_of(r) for r in refs]
        assert {p.style for p in programs} == {"main"} and {p.edition for p in programs} == {"2015"}
        assert sum(p.batchable for p in programs[:156]) >= 120  # the real answers mostly batch
        batched = g.grade_programs(programs)
        assert g.builder.batch_builds >= 2
        alone = g.grade_programs(programs, batch=1)
    diff = [(refs[i], b["error_type"], a["error_type"]) for i, (b, a) in enumerate(zip(batched, alone))
            if (b["passed"], b["error_type"]) != (a["passed"], a["error_type"])]
    assert diff == []
    kinds = {v["error_type"] for v in batched}
    assert {None, "compile_error", "test_failure", "timeout", "tampering"} <= kinds, kinds
    assert sum(v["passed"] for v in batched[:156]) >= 100
    for b in batched:
        if b["error_type"] == "compile_error":
            assert "s00" not in b["stderr"] and "main.rs" in b["stderr"]


def test_main_style_batch_root_runs_only_its_own_modules(tmp_path):
    """The batch's root main runs the module argv[1] names, with that module's outcome; a name not in the crate's
    own list exits 2 and the guard reports that status, never a pass."""
    p = Problem("M/0", "fn add(a: i32, b: i32) -> i32 {\n",
                "}\n\nfn main() {\n    let candidate = add;\n    assert_eq!(candidate(2, 3), 5);\n}\n",
                "2015", "multipl-e", "main")
    programs = [assemble(p, "    a + b\n"), assemble(p, "    a - b\n")]
    assert all(q.batchable and "pub fn main" in q.module_body and "pub fn main" not in q.source for q in programs)
    with grader("firejail", timeout=2) as g:
        builds = g.builder.build(programs)
        assert g.builder.batch_builds == 1
        good, bad = (builds[q.key] for q in programs)
        assert good.exe == bad.exe and (good.filter, bad.filter) == ("s0000", "s0001")
        outcomes = {}
        for name in ("s0000", "s0001", "s0002", "main", ""):
            cwd = g.client.new_dir()
            outcomes[name] = g.client.run(g.limits, [good.exe, name], cwd)
        for name, rc in (("s0000", 0), ("s0001", 101), ("s0002", 2), ("main", 2), ("", 2)):
            assert outcomes[name]["rc"] == rc, (name, outcomes[name])
        assert "no such program" in outcomes["s0002"]["stderr"]
        if PROOF:  # the guard's report of the real main's return: the module's outcome, or 2
            assert outcomes["s0000"]["proof"] == PROOF_PREFIX + "0\n"
            assert outcomes["s0002"]["proof"] == PROOF_PREFIX + "2\n"
        assert classify_run(outcomes["s0000"], programs[0])["passed"] is True
        assert [classify_run(outcomes[n], programs[0])["passed"] for n in ("s0001", "s0002", "main")] == [False] * 3
