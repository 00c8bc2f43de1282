"""``pytest --heval --heval-timeout auto -n 2``: the controller calibrates once and hands the limits to the workers;
an endless loop ends at its problem's CPU limit, and the metrics file records every limit used."""

from __future__ import annotations

import json

from tests.helpers import ADD_PROBLEM, result_rows, write_jsonl


def test_auto_timeouts_end_to_end(pytester, datasets):
    problems = datasets / "humaneval-rust-164.jsonl"
    canonical = json.loads(open(problems).readline())["canonical_solution"]  # HumanEval/0
    inline = dict(ADD_PROBLEM, task_id="Inline/0", completion="    a + b\n}\n")  # no canonical: the fixed limit
    samples = write_jsonl(pytester.path / "samples.jsonl", [
        {"task_id": "HumanEval/0", "completion": canonical},
        {"task_id": "HumanEval/0", "completion": "    loop {}\n}\n"},
        inline,
    ])
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--heval", samples, f"--heval-problems={problems}",
                                      "--heval-timeout", "auto", "--heval-k", "1", "-n", "2")
    assert "calibrating --heval-timeout auto: running 1 canonical solution(s)" in r.stderr.str()
    ok, loop, own = result_rows(samples)
    assert ok["passed"] and own["passed"], (ok["result"], own["result"])
    assert loop["error_type"] == "timeout" and loop["limit"] == "cpu" and loop["result"] == "timed out (CPU 1 s)"
    m = json.loads(open(str(samples) + "_metrics.json").read())
    assert m["limits"]["timeout_s"] == "auto" and m["limits"]["timeout_kind"] == "cpu"
    assert m["timeout_per_problem"] == {"HumanEval/0": 1.0, "Inline/0": 10.0}
