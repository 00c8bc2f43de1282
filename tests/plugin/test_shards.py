"""``--heval-shard I/N`` and ``python -m pytest_heval merge`` (issue 10, item 4): four shards, each a real run
(rustc and the sandbox, ``-n 2``), merged equal one unsharded run; the merge refuses shards that do not make one
run, each with its own message; duplicated rows are counted, a short shard makes the merge an error."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import List

import pytest

from pytest_heval.cli import main as cli_main
from tests.helpers import ADD_PROBLEM, REPO, read_jsonl, write_jsonl
from tests.plugin.same_run import comparable_metrics, comparable_rows

N_SHARDS = 4
# problems of uneven size (7, 5, 4, 3, 2, 2, 1 samples): the deal must still balance the shards
SIZES = {"Add/0": 7, "Add/1": 5, "Add/2": 4, "Add/3": 3, "Add/4": 2, "Add/5": 2, "Add/6": 1}
KINDS = ["    a + b + I - I\n}\n", "    a - b + I\n}\n", "    a + I +\n}\n"]


def samples() -> List[dict]:
    rows = []
    for t, size in SIZES.items():
        for _ in range(size):
            i = len(rows)
            rows.append({"task_id": t, "completion": KINDS[i % 3].replace("I", str(i)), "model": "m"})
    random.Random(0).shuffle(rows)  # the problems interleaved, as in many real samples files
    return rows


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def heval(d: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--heval", "samples.jsonl",
                           "--heval-problems=problems.jsonl", "--heval-k", "1,2", "-n", "2", *extra],
                          cwd=d, env=_env(), capture_output=True, text=True, timeout=600)


def shard_results(d: Path, i: int, n: int = N_SHARDS) -> Path:
    return d / f"samples.jsonl.shard-{i}-of-{n}_results.jsonl"


def shard_metrics(d: Path, i: int, n: int = N_SHARDS) -> Path:
    return d / f"samples.jsonl.shard-{i}-of-{n}_metrics.json"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One unsharded run in ``whole/``, its four shards in ``shards/`` (the same inputs)."""
    base = tmp_path_factory.mktemp("sharding")
    for name in ("whole", "shards"):
        (base / name).mkdir()
        write_jsonl(base / name / "problems.jsonl", [dict(ADD_PROBLEM, task_id=t) for t in SIZES])
        write_jsonl(base / name / "samples.jsonl", samples())
    r = heval(base / "whole")
    assert r.returncode == 1 and "(24 rows for 24 samples: complete;" in r.stdout, r.stdout + r.stderr
    for i in range(1, N_SHARDS + 1):
        r = heval(base / "shards", "--heval-shard", f"{i}/{N_SHARDS}")
        out = r.stdout + r.stderr
        assert r.returncode in (0, 1), out
        m = json.loads(shard_metrics(base / "shards", i).read_text())
        assert m["complete"] and (f"({m['samples']} rows for {m['samples']} samples of shard {i}/{N_SHARDS} "
                                  "(24 in the file): complete;") in out, out
        assert f"{24 - m['samples']} deselected" in out, out  # the other shards' samples, as xdist workers dropped them
    return base


def test_shards_hold_whole_problems_about_a_quarter_each(runs):
    d = runs / "shards"
    owner, sizes = {}, []
    for i in range(1, N_SHARDS + 1):
        rows = read_jsonl(shard_results(d, i))
        m = json.loads(shard_metrics(d, i).read_text())
        assert m["shard"]["index"] == i and m["shard"]["count"] == N_SHARDS and m["shard"]["samples_total"] == 24
        assert m["shard"]["expected_samples"] == len(rows) == m["expected_samples"]
        sizes.append(len(rows))
        for r in rows:
            assert owner.setdefault(r["task_id"], i) == i, f"{r['task_id']} split over shards"
            assert r["sample_index"] not in {x for j in range(1, i) for x in
                                             (y["sample_index"] for y in read_jsonl(shard_results(d, j)))}
    assert sum(sizes) == 24 and set(owner) == set(SIZES)
    assert sorted(sizes) == [5, 6, 6, 7], sizes  # dealt largest first: 7 | 5+1 | 4+2 | 3+2
    sha = json.loads(shard_metrics(d, 1).read_text())["shard"]["samples_sha256"]
    import hashlib
    assert sha == hashlib.sha256((d / "samples.jsonl").read_bytes()).hexdigest()


def test_four_shards_merged_equal_one_run(runs, tmp_path, capsys):
    d = runs / "shards"
    prefix = tmp_path / "out" / "merged"
    assert cli_main(["merge", "--out", str(prefix)] + [str(shard_results(d, i)) for i in (3, 1, 4, 2)]) == 0
    out = capsys.readouterr().out
    assert "(24 rows for 24 samples: complete; 0 missing, 24 graded by this run, 0 graded twice)" in out, out
    whole = runs / "whole"
    rows = read_jsonl(str(prefix) + "_results.jsonl")
    assert [r["sample_index"] for r in rows] == list(range(24))
    assert comparable_rows(rows) == comparable_rows(read_jsonl(whole / "samples.jsonl_results.jsonl"))
    m = json.loads(Path(str(prefix) + "_metrics.json").read_text())
    ref = json.loads((whole / "samples.jsonl_metrics.json").read_text())
    assert comparable_metrics(m) == comparable_metrics(ref)
    assert m["results_file"] == str(prefix) + "_results.jsonl" and len(m["merged_from"]) == 4
    assert "shard" not in m and m["pass@1"] == ref["pass@1"]


def _copy(runs: Path, dst: Path) -> Path:
    shutil.copytree(runs / "shards", dst)
    return dst


def _merge(d: Path, *shards: int, prefix: str = "m") -> List[str]:
    return ["merge", "--out", str(d / prefix)] + [str(shard_results(d, i)) for i in shards]


def _edit_metrics(path: Path, **shard) -> None:
    m = json.loads(path.read_text())
    m["shard"].update(shard)
    path.write_text(json.dumps(m))


def test_merge_refuses_shards_that_do_not_make_one_run(runs, tmp_path, capsys):
    d = _copy(runs, tmp_path / "s")

    def refused(argv) -> str:
        assert cli_main(argv) == 2
        assert not (d / "m_results.jsonl").exists()
        return capsys.readouterr().err

    assert "shard(s) 4/4 missing: a merge needs all of 1/4 ... 4/4" in refused(_merge(d, 1, 2, 3))
    assert "shard 2/4 given twice" in refused(_merge(d, 1, 2, 2, 3, 4))
    # a row of shard 1 also in shard 2: the shards overlap
    with open(shard_results(d, 2), "a") as f:
        f.write(shard_results(d, 1).read_text().splitlines()[0] + "\n")
    err = refused(_merge(d, 1, 2, 3, 4))
    assert "shards overlap: sample" in err and "(shard 1/4)" in err and "(shard 2/4)" in err, err
    shutil.copy(shard_results(runs / "shards", 2), shard_results(d, 2))

    _edit_metrics(shard_metrics(d, 3), samples_sha256="0" * 64)
    err = refused(_merge(d, 1, 2, 3, 4))
    assert "shards of different samples files" in err and "sha256 0000000000000000..." in err, err
    shutil.copy(shard_metrics(runs / "shards", 3), shard_metrics(d, 3))

    _edit_metrics(shard_metrics(d, 4), count=5)
    assert "shards of different splits: " in refused(_merge(d, 1, 2, 3, 4))
    shutil.copy(shard_metrics(runs / "shards", 4), shard_metrics(d, 4))

    err = refused(["merge", "--out", str(d / "m"), str(runs / "whole" / "samples.jsonl_results.jsonl")])
    assert "not a shard's results (samples.jsonl_metrics.json records no --heval-shard I/N)" in err, err

    with open(shard_results(d, 1), "a") as f:
        f.write('{"task_id": "Add/0", "sample_')
    assert "a torn last line (the shard's run was killed)" in refused(_merge(d, 1, 2, 3, 4))


def test_merge_refuses_shards_graded_differently(runs, tmp_path, capsys):
    """Shard 4 graded for real with another timeout."""
    d = _copy(runs, tmp_path / "s")
    for i in (4,):
        shard_results(d, i).unlink()
        shard_metrics(d, i).unlink()
    r = heval(d, "--heval-shard", "4/4", "--heval-timeout", "5")
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert cli_main(_merge(d, 1, 2, 3, 4)) == 2
    err = capsys.readouterr().err
    assert "shards graded differently: limits.timeout_s: 10.0 in" in err and "5.0 in" in err, err


def test_merge_counts_duplicated_rows_and_fails_on_a_short_shard(runs, tmp_path, capsys):
    d = _copy(runs, tmp_path / "s")
    last = shard_results(d, 1).read_text().splitlines()[-1]
    with open(shard_results(d, 1), "a") as f:  # a sample of shard 1 twice (as a run's streamed file may hold)
        f.write(last + "\n")
    assert cli_main(_merge(d, 1, 2, 3, 4)) == 0
    out = capsys.readouterr().out
    assert "24 rows for 24 samples: complete; 0 missing, 24 graded by this run, 1 graded twice" in out, out
    assert "1 duplicated row(s) in the shards' files: the last row of each sample kept" in out, out
    assert len(read_jsonl(d / "m_results.jsonl")) == 24

    lines = shard_results(d, 2).read_text().splitlines()
    shard_results(d, 2).write_text("\n".join(lines[:-2]) + "\n")
    assert cli_main(_merge(d, 1, 2, 3, 4, prefix="short")) == 1
    out = capsys.readouterr().out
    assert "22 rows for 24 samples: INCOMPLETE; 2 missing" in out, out
    assert "ERROR: results incomplete: 22 rows for 24 samples (2 missing; shards short of rows: 2/4 (4 of 6))" in out
    assert json.loads((d / "short_metrics.json").read_text())["complete"] is False


def test_a_shard_resumes(runs, tmp_path):
    """A shard's run killed half way (here: its last rows cut) resumes into the same shard file."""
    d = _copy(runs, tmp_path / "s")
    full = read_jsonl(shard_results(d, 3))
    text = shard_results(d, 3).read_text().splitlines(keepends=True)
    shard_results(d, 3).write_text("".join(text[:2]) + text[2][:40])
    r = heval(d, "--heval-shard", "3/4", "--heval-resume")
    out = r.stdout + r.stderr
    assert f"2 finished row(s) of {shard_results(d, 3)} kept, {len(full) - 2} sample(s) to grade" in out, out
    assert f"{24 - len(full) + 2} deselected" in out, out
    assert comparable_rows(read_jsonl(shard_results(d, 3))) == comparable_rows(full)
    counts = Counter(r["task_id"] for r in full)
    assert all(counts[t] == SIZES[t] for t in counts)  # whole problems


def test_more_shards_than_problems(runs, tmp_path):
    """Shard 8 of 8 over 7 problems holds nothing: its run writes empty files and exits 0."""
    d = tmp_path / "eight"
    d.mkdir()
    for f in ("problems.jsonl", "samples.jsonl"):
        shutil.copy(runs / "shards" / f, d)
    r = heval(d, "--heval-shard", "8/8")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "(0 rows for 0 samples of shard 8/8 (24 in the file): complete;" in out and "24 deselected" in out, out
    assert shard_results(d, 8, 8).read_text() == ""
