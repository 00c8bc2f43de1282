"""Unit tests for shards.py (the deal, bitmaps, finished rows) and the results-file helpers resume and merge use."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pytest_heval.errors import HevalError
from pytest_heval.results import file_metrics, grading_diff, output_paths
from pytest_heval.shards import Bits, deal_problems, finished_indexes, parse_shard, shard_indexes


@pytest.mark.parametrize("text,want", [("1/4", (1, 4)), (" 4 / 4 ", (4, 4)), ("1/1", (1, 1))])
def test_parse_shard(text, want):
    assert parse_shard(text) == want


@pytest.mark.parametrize("text", ["0/4", "5/4", "1", "a/b", "1/0", "-1/2", ""])
def test_parse_shard_refuses(text):
    with pytest.raises(HevalError, match="want I/N with 1 <= I <= N"):
        parse_shard(text)


def test_the_deal_keeps_problems_whole_and_balances_samples():
    counts = {f"T/{i}": 1 + (i * 37) % 11 for i in range(164)}
    for n in (1, 2, 3, 4, 7, 16):
        owner = deal_problems(counts, n)
        assert set(owner) == set(counts) and set(owner.values()) <= set(range(1, n + 1))
        load = Counter()
        for t, s in owner.items():
            load[s] += counts[t]
        assert sum(load.values()) == sum(counts.values())
        assert max(load.values()) - min(load.values()) <= max(counts.values())  # within one problem
        assert deal_problems(dict(reversed(list(counts.items()))), n) == owner  # input order does not matter


def test_shard_indexes_partition_a_samples_file():
    task_ids = [f"T/{(i * 7) % 13}" for i in range(200)]
    parts = [set(shard_indexes(task_ids, (i, 4))) for i in range(1, 5)]
    assert sorted(i for p in parts for i in p) == list(range(200))  # every sample in exactly one shard
    for p in parts:
        others = {task_ids[i] for q in parts if q is not p for i in q}
        assert not {task_ids[i] for i in p} & others


def test_bits():
    b = Bits(13)
    for i in (0, 7, 8, 12):
        b.add(i)
    assert list(b) == [0, 7, 8, 12] and len(b) == 4 and 12 in b and 13 not in b and -1 not in b
    inv = b.invert()
    assert list(inv) == [i for i in range(13) if i not in (0, 7, 8, 12)] and len(inv) == 9
    c = Bits(13)
    c.add(1)
    assert list(b | c) == [0, 1, 7, 8, 12]
    assert list(Bits.from_wire(list(b.to_wire()))) == list(b)


def test_finished_indexes_take_the_last_row_and_skip_infra_errors_and_a_torn_line(tmp_path):
    p = tmp_path / "r.jsonl"
    rows = [{"sample_index": 0, "error_type": None}, {"sample_index": 1, "error_type": "infra_error"},
            {"sample_index": 2, "error_type": "infra_error"}, {"sample_index": 2, "error_type": "compile_error"},
            {"sample_index": 3, "error_type": None}, {"sample_index": 3, "error_type": "infra_error"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"sample_index": 4, "err')
    assert list(finished_indexes(str(p), 6)) == [0, 2]
    assert list(finished_indexes(str(tmp_path / "none.jsonl"), 6)) == []


def test_output_paths_of_a_shard():
    assert output_paths("/d/x.jsonl", None, (2, 4)) == ("/d/x.jsonl.shard-2-of-4_results.jsonl",
                                                        "/d/x.jsonl.shard-2-of-4_metrics.json")
    assert output_paths("/d/x.jsonl", "/o", (1, 3))[0] == "/o/x.jsonl.shard-1-of-3_results.jsonl"


def test_grading_diff():
    old = {"rustc": "1.80", "limits": {"timeout_s": 10.0, "memory_mib": 4096}, "deny": []}
    new = {"rustc": "1.81", "limits": {"timeout_s": 5.0, "memory_mib": 4096}, "deny": []}
    assert grading_diff(old, new) == ["rustc: '1.80' then, '1.81' now", "limits.timeout_s: 10.0 then, 5.0 now"]
    assert grading_diff(old, old) == []


def test_file_metrics_counts_expected_missing_and_saving():
    rows = [{"task_id": "A", "passed": True, "compile_ok": True, "error_type": None, "completion_form": "raw"},
            {"task_id": "A", "passed": False, "compile_ok": False, "error_type": "compile_error"}]
    kw = dict(samples_file="s", label="s", results_file="r", graded_this_run=2, graded_twice=0, grading={"rustc": "x"},
              started="a", ended="b", wall_s=2.0, completion_form="auto", extra={"per_problem": {}})
    m = file_metrics(rows, [1], expected=3, saved=True, **kw)
    assert (m["samples"], m["expected_samples"], m["missing"], m["complete"], m["status"]) == (2, 3, 1, False,
                                                                                              "incomplete")
    assert m["rustc"] == "x" and m["samples_per_minute"] == 60.0 and m["completion_forms"] == {"raw": 1}
    assert file_metrics(rows, [1], expected=2, saved=True, **kw)["complete"] is True
    assert file_metrics(rows, [1], expected=2, saved=False, **kw)["complete"] is False
