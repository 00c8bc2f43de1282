"""`--heval-problems NAME` and the problem set picked from the task ids, through `pytest --heval` for real.

The cache is a temp dir; the sets come from ``file://`` the shared datasets (their file names are the
registry's), so nothing here reaches a network. Downloads over HTTP are tested in tests/unit/test_datasets.py.
"""

from __future__ import annotations

import pytest

from pytest_heval import datasets as D
from tests.helpers import read_jsonl, result_rows, write_jsonl


@pytest.fixture
def cache(tmp_path, monkeypatch, datasets):
    d = tmp_path / "cache"
    monkeypatch.setenv(D.DIR_ENV, str(d))
    monkeypatch.setenv(D.URL_ENV, datasets.as_uri())
    return d


def canonical_samples(path, datasets, file, n=2):
    rows = read_jsonl(datasets / file)[:n]
    return write_jsonl(path, [{"task_id": r["task_id"], "completion": r["canonical_solution"]} for r in rows])


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *[str(a) for a in args])


def test_the_one_cached_set_holding_the_task_ids_is_picked_and_named(pytester, cache, datasets):
    D.fetch("humaneval-rust")
    D.fetch("humaneval-rust-sigil")  # cached too, but holds no HumanEval/N id
    samples = canonical_samples(pytester.path / "samples.jsonl", datasets, "humaneval-rust-164.jsonl")
    r = run(pytester, "--heval", samples)
    out = r.stdout.str()
    assert r.ret == 0, out
    assert (f"problem set: humaneval-rust ({cache / 'humaneval-rust-164.jsonl'}), picked from the task ids" in out)
    assert [row["passed"] for row in result_rows(samples)] == [True, True]


def test_a_name_where_a_path_is_expected_is_fetched_once_and_used_by_the_workers(pytester, cache, datasets):
    samples = canonical_samples(pytester.path / "samples.jsonl", datasets, "humaneval-rust-164.jsonl")
    assert not (cache / "humaneval-rust-164.jsonl").exists()
    r = run(pytester, "--heval", samples, "--heval-problems", "humaneval-rust", "-n", "2")
    out = r.stdout.str()
    assert r.ret == 0, out
    assert f"problem set: humaneval-rust ({cache / 'humaneval-rust-164.jsonl'})" in out
    assert "2 rows for 2 samples: complete" in out
    assert D.is_cached("humaneval-rust")


def test_task_ids_in_several_cached_sets_ask_for_a_name(pytester, cache, datasets):
    D.fetch("humaneval-x-rust")
    D.fetch("humanevalpack-rust")  # the same Rust/N ids
    samples = canonical_samples(pytester.path / "samples.jsonl", datasets, "humanevalpack-rust.jsonl")
    r = run(pytester, "--heval", samples)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert "several cached datasets (humaneval-x-rust, humanevalpack-rust)" in err
    assert "--heval-problems NAME" in err


def test_nothing_cached_says_how_to_get_a_set(pytester, cache, datasets):
    samples = canonical_samples(pytester.path / "samples.jsonl", datasets, "humaneval-rust-164.jsonl")
    r = run(pytester, "--heval", samples)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert "task_id 'HumanEval/0' is in no problem file" in err  # guessing never downloads
    assert "known: humaneval-rust, " in err and "cached in" in err and ": none)" in err
    assert "python -m pytest_heval datasets fetch NAME" in err
    assert not cache.exists() or not any(cache.iterdir())


def test_unknown_name_and_offline_name_are_usage_errors(pytester, cache, datasets, monkeypatch):
    samples = canonical_samples(pytester.path / "samples.jsonl", datasets, "humaneval-rust-164.jsonl")
    r = run(pytester, "--heval", samples, "--heval-problems", "humaneval-cobol")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "humaneval-cobol: no such file, and not a known dataset name (known: humaneval-rust" in r.stderr.str()

    monkeypatch.setenv(D.URL_ENV, (pytester.path / "no-mirror-here").as_uri())
    r = run(pytester, "--heval", samples, "--heval-problems", "humaneval-rust")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "python -m pytest_heval datasets fetch humaneval-rust" in r.stderr.str()
