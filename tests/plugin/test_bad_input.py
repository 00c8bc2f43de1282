"""Bad input through a real ``pytest --heval`` subprocess: a usage error (exit 4) naming file and line, never a
traceback or an INTERNALERROR; two samples files with one name never overwrite each other."""

from __future__ import annotations

import gzip
import json
from typing import List

import pytest

from tests.helpers import ADD_PROBLEM, write_jsonl
from tests.unit.test_fuzz_inputs import BOM, HUGE, render

GOOD = "    a + b\n}\n"


# ---------------------------------------------------------------- plugin level: a usage error, never a traceback

def _run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *[str(a) for a in args])


def _truncated_gzip(rows: List[dict]) -> bytes:
    z = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    return z[:len(z) // 2]


PLUGIN_CASES = [
    # (id, file name, content, where the message must point, what it must say)
    ("bom-crlf-blank-wrong-type", "samples.jsonl",
     BOM + b'{"task_id": "Add/0", "completion": "x"}\r\n\r\n  \r\n{"task_id": "Add/0", "completion": 5}\r\n',
     "samples.jsonl:4: field 'completion'", "must be a string, got int"),
    ("huge-row-then-duplicate-key", "samples.jsonl",
     render({"task_id": "Add/0", "completion": HUGE}) + b"\n\n"
     + render({"task_id": "Add/0", "completion": "x"}, duplicate=("task_id", ["Add/0"])) + b"\n",
     "samples.jsonl:3: field 'task_id'", "must be a string, got list"),
    ("random-bytes-line-2", "samples.jsonl",
     b'{"task_id": "Add/0", "completion": "x"}\n\x8f\x00\xff{"task_id":\n', "samples.jsonl:2", "malformed JSON"),
    ("json-list-problems-bad-element", "problems.jsonl",
     json.dumps([ADD_PROBLEM, dict(ADD_PROBLEM, task_id="Add/1", prompt=7)], indent=2).encode(),
     "problems.jsonl:2: field 'prompt'", "must be a string, got int"),
    ("truncated-gzip-samples", "samples.jsonl.gz", _truncated_gzip([{"task_id": "Add/0", "completion": "x"}] * 50),
     "samples.jsonl.gz", "truncated gzip"),
]


@pytest.mark.parametrize("which,content,where,what", [c[1:] for c in PLUGIN_CASES], ids=[c[0] for c in PLUGIN_CASES])
def test_plugin_bad_input_is_a_usage_error_naming_file_and_line(pytester, which, content, where, what):
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    samples = which if which.startswith("samples") else "samples.jsonl"
    write_jsonl(pytester.path / samples, [{"task_id": "Add/0", "completion": GOOD}])
    (pytester.path / which).write_bytes(content)
    r = _run(pytester, "--heval", samples, "--heval-problems", "problems.jsonl", "-n", "2")
    out, err = r.stdout.str(), r.stderr.str()
    assert r.ret == pytest.ExitCode.USAGE_ERROR, out[-2000:] + err[-2000:]
    assert where in err and what in err, err[-2000:]
    for text in (out, err):
        assert "Traceback" not in text and "INTERNALERROR" not in text
    assert not list(pytester.path.glob("*_results.jsonl"))


def test_plugin_two_samples_files_with_one_name_do_not_overwrite_each_other(pytester):
    """`--heval-results DIR` with a/samples.jsonl and b/samples.jsonl: both would be DIR/samples.jsonl_results.jsonl.

    Correct: either a usage error naming the clash, or each file's results kept apart. Wrong: one file's
    results silently replaced by the other's.
    """
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM])
    for d, completion in (("a", GOOD), ("b", "    a - b\n}\n")):
        (pytester.path / d).mkdir()
        write_jsonl(pytester.path / d / "samples.jsonl", [{"task_id": "Add/0", "completion": completion, "from": d}])
    r = _run(pytester, "--heval", "a/samples.jsonl", "b/samples.jsonl", "--heval-problems", "problems.jsonl",
             "--heval-results", "out")
    out, err = r.stdout.str(), r.stderr.str()
    assert "Traceback" not in out + err and "INTERNALERROR" not in out + err
    if r.ret == pytest.ExitCode.USAGE_ERROR:
        assert "a/samples.jsonl" in err and "b/samples.jsonl" in err, err
        return
    kept = {}
    for p in (pytester.path / "out").glob("*_results.jsonl"):
        for line in p.read_text().splitlines():
            row = json.loads(line)
            kept.setdefault(row["from"], []).append(row)
    assert sorted(kept) == ["a", "b"], (
        f"results of one samples file were overwritten by the other's: results files "
        f"{sorted(x.name for x in (pytester.path / 'out').iterdir())} hold rows from {sorted(kept)}")
