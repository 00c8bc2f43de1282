"""`--heval-deny` and features through `pytest --heval` (a pytester subprocess, real rustc and sandbox): rows name
their features, denied ones are `policy` failures, the metrics and the summary count samples per feature."""

from __future__ import annotations

import json

from tests.helpers import ADD_PROBLEM, result_rows, write_jsonl

ROWS = [
    {"task_id": "Add/0", "completion": "    a + b\n}\n"},
    {"task_id": "Add/0", "completion": "    let v = [a, b];\n    unsafe { *v.get_unchecked(0) + *v.get_unchecked(1) }\n}\n"},
    {"task_id": "Add/0", "completion": "    let unsafe_total = a + b; // unsafe, but only in words\n    unsafe_total\n}\n"},
]


def _run(pytester, *args):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    write_jsonl(pytester.path / "samples.jsonl", ROWS)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", "samples.jsonl",
                                         "--heval-problems", "problems.jsonl", "--heval-k", "1", *args)


def test_deny_makes_a_feature_a_policy_failure(pytester):
    r = _run(pytester, "--heval-deny", "unsafe,asm", "-n", "2")
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [(x["passed"], x["error_type"], x["features"]) for x in rows] == [
        (True, None, []), (False, "policy", ["unsafe"]), (True, None, [])]
    m = json.loads((pytester.path / "samples.jsonl_metrics.json").read_text())
    assert m["feature_counts"] == {"unsafe": 1} and m["error_counts"]["policy"] == 1 and m["deny"] == ["asm", "unsafe"]
    out = r.stdout.str()
    assert "features (samples): unsafe=1" in out and "policy (1): Add/0#1" in out


def test_without_deny_features_are_reported_only(pytester):
    pytester.makeini("[pytest]\nheval_deny =\n")
    _run(pytester)
    rows = result_rows(pytester.path / "samples.jsonl")
    assert [(x["passed"], x["features"]) for x in rows] == [(True, []), (True, ["unsafe"]), (True, [])]


def test_deny_from_the_ini_file_and_a_bad_name(pytester):
    pytester.makeini("[pytest]\nheval_deny = unsafe\n")
    _run(pytester)
    assert [x["error_type"] for x in result_rows(pytester.path / "samples.jsonl")] == [None, "policy", None]
    r = _run(pytester, "--heval-deny", "unsafe,teleport")
    assert r.ret == 4 and "--heval-deny: unknown feature(s) teleport" in r.stderr.str()
