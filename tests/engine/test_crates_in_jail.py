"""HumanEval-X through the Grader, inside firejail and bwrap: its programs import rand, regex and md5, which the
engine builds once (cache), copies into the worker's work root (the jail hides the home the cache is in) and
passes with ``--extern`` to the programs that name them, batched; the others build as before."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from pytest_heval import Grader, Inputs, Settings, sample_programs
from pytest_heval.crates import CRATES, crates_identity
from pytest_heval.toolchain import find_toolchain
from tests.helpers import ADD_PROBLEM, write_jsonl


@pytest.mark.parametrize("sandbox", ["firejail", "bwrap"])
def test_humaneval_x_canonical_solutions_pass_in_the_jail(sandbox, datasets, tmp_path):
    problems = str(datasets / "humaneval-x-rust.jsonl.gz")
    with gzip.open(problems, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    add = write_jsonl(tmp_path / "add.jsonl", [ADD_PROBLEM])
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": r["task_id"], "completion": r["canonical_solution"]}
                                                 for r in rows] + [{"task_id": "Add/0", "completion": " a + b\n}\n"}])
    inputs = Inputs([problems, str(add)])
    refs = [(str(samples), s.index) for s in inputs.load(str(samples)).samples]
    settings = Settings(sandbox=sandbox)
    tc = find_toolchain()
    program_of = sample_programs(inputs, settings, tc)
    assert all(program_of(r).crates == tuple(sorted(CRATES)) for r in refs[:-1])
    assert program_of(refs[-1]).crates == ()  # no crate named: built without any --extern
    with Grader(settings, toolchain=tc) as g:
        verdicts = dict(g.grade(refs, program_of))
        assert g.builder.batch_builds >= 2  # HumanEval-X in batches of its own, Add/0 apart
        crates_dir = os.path.join(g.client.root, "crates")
        assert sorted(os.listdir(crates_dir)) == sorted(os.path.basename(f) for f in g.builder.crates.set.files)
        assert not g.client.root.startswith(os.path.expanduser("~"))
    by_task = {inputs.get(*ref)[0].task_id: v for ref, v in verdicts.items()}
    failing = {t: (v["error_type"], v["result"][:300]) for t, v in by_task.items() if not v["passed"]}
    # HumanEval-X's own defects (tests/test_crates.py says why): Rust/32's test is commented out (no test ran),
    # Rust/50's test calls rand <= 0.7's gen_range(a, b) (Debian ships rand 0.8)
    assert set(failing) == {"Rust/32", "Rust/50"}, failing
    assert failing["Rust/32"][0] == "test_failure" and "no test ran" in failing["Rust/32"][1]
    assert failing["Rust/50"][0] == "compile_error"
    assert by_task["Add/0"]["passed"]


def test_missing_crate_sources_give_a_clear_infra_error_only_to_programs_that_need_them(datasets, tmp_path):
    problems = str(datasets / "humaneval-x-rust.jsonl.gz")
    with gzip.open(problems, "rt", encoding="utf-8") as f:
        row = json.loads(f.readline())
    add = write_jsonl(tmp_path / "add.jsonl", [ADD_PROBLEM])
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": row["task_id"], "completion": row["canonical_solution"]},
                                                 {"task_id": "Add/0", "completion": " a + b\n}\n"}])
    inputs = Inputs([problems, str(add)])
    refs = [(str(samples), 0), (str(samples), 1)]
    settings = Settings(sandbox="bwrap", crates=str(tmp_path / "no-such-dir"))
    with Grader(settings) as g:
        assert crates_identity(g.toolchain.rustc, settings.crates) is None
        v_x, v_add = [v for _, v in g.grade(refs, sample_programs(inputs, settings, g.toolchain))]
    assert v_x["error_type"] == "infra_error" and "no-such-dir does not exist" in v_x["result"]
    assert "md5, rand, regex are needed" in v_x["result"]
    assert v_add["passed"]


def test_the_crate_set_is_in_the_verdict_fingerprint(tmp_path):
    tc = find_toolchain()
    default = Settings(sandbox="bwrap")
    other = Settings(sandbox="bwrap", crates=str(tmp_path))
    assert default.grading(tc, "bwrap")["crates"] == crates_identity(tc.rustc)
    assert default.grading(tc, "bwrap")["crates"] is not None
    assert default.fingerprint(tc, "bwrap") != other.fingerprint(tc, "bwrap")


def test_clippy_lints_programs_that_use_the_crates(datasets, tmp_path):
    """clippy-driver gets the same --extern arguments as the build: a program that uses rand/regex/md5 is linted
    (clippy_ok true or false), not failed by an unresolved import."""
    problems = str(datasets / "humaneval-x-rust.jsonl.gz")
    with gzip.open(problems, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][:6]
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": r["task_id"], "completion": r["canonical_solution"]}
                                                 for r in rows])
    inputs = Inputs([problems])
    refs = [(str(samples), s.index) for s in inputs.load(str(samples)).samples]
    settings = Settings(sandbox="bwrap", clippy=True)
    with Grader(settings) as g:
        verdicts = [v for _, v in g.grade(refs, sample_programs(inputs, settings, g.toolchain))]
    assert all(v["passed"] for v in verdicts), [v["result"] for v in verdicts]
    assert all(v["clippy_ok"] is not None and not v.get("clippy_error") for v in verdicts), \
        [(v.get("clippy_ok"), v.get("clippy_error")) for v in verdicts]
    # HumanEval-X's canonical solutions end in `return`: clippy really ran over them
    assert any("clippy::needless_return" in (v["clippy_lints"] or ()) for v in verdicts)
