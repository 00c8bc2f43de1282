"""``python -m pytest_heval validate`` on the real datasets: real rustc, the real sandbox, through the Grader.

sigil-180 is validated whole (~5 s); HumanEval-X, HumanEvalPack and MultiPL-E through small subsets made from them
(the whole sets were run by hand: see HANDOFF.md). HumanEval-X needs the dataset crates (.ci/setup).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys

from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM, REPO, read_jsonl, write_jsonl


def validate(*args, cwd=None, **env_vars):
    """Run the command; (exit status, its JSON output or its text, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_vars)
    p = subprocess.run([sys.executable, "-m", "pytest_heval", "validate", *map(str, args)], capture_output=True,
                       text=True, env=env, cwd=cwd, timeout=600)
    out = json.loads(p.stdout) if "--json" in args and p.stdout.strip() else p.stdout
    return p.returncode, out, p.stderr


def by_task(rows):
    out = {}
    for r in rows:
        out.setdefault(r["task_id"], []).append(r)
    return out


def test_sigil_finds_the_32_truncated_tests(datasets, tmp_path):
    """By its name: the cache dir holds the team's byte-identical copy of the pinned file."""
    path = datasets / "humaneval-rust-sigil-180.jsonl"
    shutil.copyfile(path, tmp_path / "humaneval-rust-sigil-180.jsonl")
    # the defect, read independently of the code under test: the test text was cut before its first #[test]
    truncated = {r["task_id"] for r in read_jsonl(path) if "#[test]" not in r["test"]}
    assert len(truncated) == 32
    rc, out, err = validate("humaneval-rust-sigil", "--json", "-j", "2", HEVAL_DATA_DIR=str(tmp_path),
                            HEVAL_DATASETS_URL="http://127.0.0.1:9/")  # never downloads: a miss fails fast
    assert rc == 1, err
    assert out["files"][0]["path"] == str(tmp_path / "humaneval-rust-sigil-180.jsonl")
    assert out["problems"] == 180 and out["files"][0]["checks"] == {"canonical": 180}
    rows = by_task(out["rows"])
    for task_id in truncated:
        kinds = {r["check"]: r for r in rows[task_id]}
        assert kinds["static"]["reason"].startswith("truncated test text"), task_id
        assert kinds["canonical"]["error_type"] == "compile_error", task_id
        assert "unclosed delimiter" in kinds["canonical"]["reason"], task_id
    static = {t for t, rs in rows.items() if any(r["check"] == "static" for r in rs)}
    assert static == truncated
    assert not any(r["check"] == "infra" for r in out["rows"])


def test_humaneval_x_rust_32_runs_no_test(datasets, tmp_path):
    with gzip.open(datasets / "humaneval-x-rust.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    subset = write_jsonl(tmp_path / "hx.jsonl", [r for r in rows if r["task_id"] in
                                                 {"Rust/0", "Rust/31", "Rust/32", "Rust/33", "Rust/162"}])
    rc, text, err = validate(subset, "-j", "1")
    assert rc == 1, err
    rc, out, err = validate(subset, "--json", "-j", "1")
    assert rc == 1, err
    assert by_task(out["rows"]).keys() == {"Rust/32"}  # Rust/162 needs md5: the crates are there
    reasons = {r["check"]: (r["reason"], r["error_type"]) for r in out["rows"]}
    assert reasons == {
        "static": ("no test runs: the test text has no #[test] function outside comments (it is commented out)",
                   None),
        "canonical": ("canonical solution fails: test_failure: failed: no test ran", "test_failure"),
    }
    assert "Rust/32  canonical  canonical solution fails: test_failure: failed: no test ran" in text


def test_humanevalpack_buggy_solutions_fail(datasets, tmp_path):
    rows = read_jsonl(datasets / "humanevalpack-rust.jsonl")
    subset = write_jsonl(tmp_path / "pack.jsonl", rows[:4])
    rc, out, err = validate(subset, "--json")
    assert (rc, out["rows"]) == (0, []), err
    assert out["files"][0]["checks"] == {"canonical": 4, "buggy": 4}


def test_multipl_e_92_contradictory_asserts(datasets, tmp_path):
    rows = json.loads((datasets / "multipl-e-humaneval-rs-keep.json").read_text())
    picked = [r for r in rows if r["name"].split("_")[1] in ("0", "91", "92", "93")]
    assert len(picked) == 4
    subset = tmp_path / "me.json"
    subset.write_text(json.dumps(picked))
    rc, out, err = validate(subset, "--json", "-j", "2")
    assert rc == 1, err
    assert out["files"][0]["checks"] == {"stub": 4}  # every todo!() body compiled and failed
    assert [(r["task_id"], r["check"], r["reason"]) for r in out["rows"]] == [
        ("HumanEval_92_any_int", "static",
         "contradictory asserts: candidate(3.0, 4.0, 7.0) == true (test line 13) and == false (line 14)")]
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps([r for r in picked if "_92_" not in r["name"]]))
    rc, text, err = validate(clean)
    assert rc == 0, err
    assert text.endswith("no broken problem\n")


def test_tests_that_miss_the_bug_or_run_nothing(tmp_path):
    """Hand-made defects, graded for real: a buggy solution the tests do not catch, a todo!() body that passes."""
    weak = dict(ADD_PROBLEM, task_id="Weak/0", declaration=ADD_PROBLEM["prompt"], canonical_solution="    a + b\n}\n",
                buggy_solution="    a * b\n}\n",
                test="#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() {\n"
                     "        assert_eq!(add(2, 2), 4);\n    }\n}\n")
    pack = write_jsonl(tmp_path / "pack.jsonl", [weak])
    idle = write_jsonl(tmp_path / "me.jsonl", [dict(ADD_MAIN_PROBLEM, tests="}\n\nfn main() {\n}\n"),
                                               dict(ADD_MAIN_PROBLEM, name="BadTypes_0",
                                                    tests='}\n\nfn main() {\n    assert_eq!(add("2", 3), 5);\n}\n')])
    rc, out, err = validate(pack, idle, "--json", "-j", "1")
    assert rc == 1, err
    got = [(os.path.basename(r["file"]), r["task_id"], r["check"], r["reason"].split(":")[0]) for r in out["rows"]]
    assert got == [
        ("pack.jsonl", "Weak/0", "buggy", "buggy solution passes"),
        ("me.jsonl", "AddMain_0", "static", "no test runs"),
        ("me.jsonl", "AddMain_0", "stub", "a todo!() body passes"),
        ("me.jsonl", "BadTypes_0", "stub", "the test text does not compile against the prompt (todo!() body)"),
    ]
