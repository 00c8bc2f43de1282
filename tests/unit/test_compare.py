"""compare.py against direct computations: exact p-values by enumeration, the bootstrap by a brute-force
reimplementation with the same seed, the tables against metrics.compute. Pure logic: no rustc."""

from __future__ import annotations

import itertools
import json
import random
import statistics

import pytest

from pytest_heval.compare import (compare, load_results, per_problem_lines, per_problem_table, side_by_side,
                                  side_by_side_lines, sign_test_p, task_key)
from pytest_heval.errors import InputError
from pytest_heval.metrics import compute


def row(tid, passed, et="__auto__", compile_ok=True, i=0):
    if et == "__auto__":
        et = None if passed else "test_failure"
    return {"task_id": tid, "passed": passed, "compile_ok": compile_ok, "error_type": et, "sample_index": i}


def rows_from(spec):
    """{task_id: (n, c)} -> result rows, the c passing ones first."""
    out = []
    for tid, (n, c) in spec.items():
        out += [row(tid, j < c, i=len(out)) for j in range(n)]
    return out


# ---------------------------------------------------------------- exact p-values


def enumerated_p(worse, better):
    """Two-sided sign test by enumerating every +/- outcome of the discordant problems under H0 (each 1/2)."""
    m = worse + better
    if m == 0:
        return 1.0
    observed = abs(worse - better)
    extreme = sum(1 for signs in itertools.product((0, 1), repeat=m) if abs(2 * sum(signs) - m) >= observed)
    return extreme / 2 ** m


@pytest.mark.parametrize("m", range(0, 15))
def test_sign_test_matches_enumeration(m):
    for worse in range(m + 1):
        assert sign_test_p(worse, m - worse) == pytest.approx(enumerated_p(worse, m - worse), rel=1e-12, abs=0)


def test_sign_test_known_values_and_large_counts():
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(5, 0) == pytest.approx(2 / 32)  # 0.0625: five of five is not significant at 0.05
    assert sign_test_p(6, 0) == pytest.approx(2 / 64)
    assert sign_test_p(3, 3) == 1.0
    p = sign_test_p(828, 727)  # thousands of discordant problems: exact integers, no overflow
    assert 0.0 < p < 0.05


def test_n1_is_mcnemar_exact_on_solved_unsolved():
    rng = random.Random(7)
    old, new = [], []
    truth_old, truth_new = {}, {}
    for t in range(16):  # at most 16 discordant problems: 2**16 outcomes to enumerate
        a, b = rng.random() < 0.6, rng.random() < 0.45
        truth_old[f"P/{t}"], truth_new[f"P/{t}"] = a, b
        old.append(row(f"P/{t}", a))
        new.append(row(f"P/{t}", b))
    c = compare(old, new, resamples=200)
    lost = {t for t in truth_old if truth_old[t] and not truth_new[t]}
    gained = {t for t in truth_old if truth_new[t] and not truth_old[t]}
    assert {p.task_id for p in c.worse} == lost
    assert {p.task_id for p in c.better} == gained
    assert lost and gained
    assert c.unchanged == 16 - len(lost) - len(gained)
    # McNemar's exact p from the 2x2 table's discordant cells, enumerated independently
    assert c.p_value == pytest.approx(enumerated_p(len(lost), len(gained)), rel=1e-12)
    assert c.delta == pytest.approx((len(gained) - len(lost)) / 16)


# ---------------------------------------------------------------- bootstrap


def brute_force_ci(old_rows, new_rows, resamples, seed, confidence=0.95):
    """Textbook paired bootstrap: draw problems with replacement (index = floor(random() * P)), recompute both
    runs' pass@1 on the resample from the rows themselves, take the difference; percentile interval by statistics."""
    def rate(rows, tid):
        mine = [r for r in rows if r["task_id"] == tid and r["error_type"] != "infra_error"]
        return sum(r["passed"] for r in mine) / len(mine)

    problems = sorted({r["task_id"] for r in old_rows} & {r["task_id"] for r in new_rows}, key=task_key)
    old_rate = {t: rate(old_rows, t) for t in problems}
    new_rate = {t: rate(new_rows, t) for t in problems}
    rng = random.Random(seed)
    p = len(problems)
    deltas = []
    for _ in range(resamples):
        picks = [problems[int(rng.random() * p)] for _ in range(p)]
        old_p1 = sum(old_rate[t] for t in picks) / p
        new_p1 = sum(new_rate[t] for t in picks) / p
        deltas.append(new_p1 - old_p1)
    a = (1 - confidence) / 2
    # statistics' "inclusive" method is the same type-7 definition; cut points at a and 1 - a
    cuts = statistics.quantiles(deltas, n=round(1 / a), method="inclusive")
    return cuts[0], cuts[-1]


def varied_runs(seed, problems=60):
    """Two runs with n differing per problem and between the runs, plus infra errors and one-sided problems."""
    rng = random.Random(seed)
    old, new = [], []
    for t in range(problems):
        tid = f"HumanEval/{t}"
        q = rng.random()
        for _ in range(rng.randint(1, 6)):
            old.append(row(tid, rng.random() < q))
        for _ in range(rng.randint(1, 6)):
            new.append(row(tid, rng.random() < q - 0.1))
        if t % 17 == 0:
            new.append(row(tid, False, et="infra_error"))
    old.append(row("only/old", True))
    new.append(row("only/new", False))
    return old, new


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_bootstrap_ci_matches_brute_force_with_same_seed(seed):
    old, new = varied_runs(seed)
    c = compare(old, new, resamples=2000, seed=seed)
    lo, hi = c.ci()
    blo, bhi = brute_force_ci(old, new, 2000, seed)
    assert lo == pytest.approx(blo, abs=1e-12)
    assert hi == pytest.approx(bhi, abs=1e-12)
    # and at another level, from the same resamples
    blo90, bhi90 = brute_force_ci(old, new, 2000, seed, confidence=0.9)
    assert c.ci(0.9) == pytest.approx((blo90, bhi90), abs=1e-12)
    assert lo < c.delta < hi


def test_bootstrap_reproducible_and_seeded():
    old, new = varied_runs(3)
    a = compare(old, new, resamples=500, seed=42).ci()
    assert compare(old, new, resamples=500, seed=42).ci() == a
    assert compare(old, new, resamples=500, seed=43).ci() != a
    assert compare(old, new, resamples=500, seed=42).to_dict()["bootstrap"] == {"resamples": 500, "seed": 42}
    with pytest.raises(ValueError, match="resamples"):
        compare(old, new, resamples=0)


# ---------------------------------------------------------------- edge cases


def test_no_shared_problems():
    c = compare([row("a/1", True)], [row("b/1", False)], resamples=100)
    assert c.shared == 0 and c.delta is None and c.ci() is None and c.p_value == 1.0
    assert c.only_old == ["a/1"] and c.only_new == ["b/1"]
    assert c.regressed() is False
    assert any("no shared problems" in line for line in c.lines())
    json.dumps(c.to_dict())
    empty = compare([], [], resamples=100)
    assert empty.shared == 0 and not empty.regressed()


def test_identical_runs():
    old, _ = varied_runs(5)
    c = compare(old, [dict(r) for r in old], resamples=300)
    assert c.delta == 0.0 and c.ci() == (0.0, 0.0)
    assert c.worse == [] and c.better == [] and c.p_value == 1.0
    assert c.unchanged == c.shared == 61
    assert not c.regressed(0.5)


def test_n_differs_per_problem_rates_compared_exactly():
    old = rows_from({"t/1": (3, 1), "t/2": (2, 2), "t/3": (1, 0), "t/4": (10, 7)})
    new = rows_from({"t/1": (6, 2), "t/2": (5, 4), "t/3": (4, 1), "t/4": (1, 1)})
    c = compare(old, new, resamples=100)
    assert c.shared == 4
    assert [p.task_id for p in c.worse] == ["t/2"]  # 2/2 -> 4/5
    assert [p.task_id for p in c.better] == ["t/3", "t/4"] or [p.task_id for p in c.better] == ["t/4", "t/3"]
    assert c.unchanged == 1  # t/1: 1/3 == 2/6, not a float coincidence
    assert c.old_pass1 == pytest.approx((1 / 3 + 1 + 0 + 0.7) / 4)
    assert c.new_pass1 == pytest.approx((2 / 6 + 4 / 5 + 1 / 4 + 1) / 4)
    assert c.delta == pytest.approx(c.new_pass1 - c.old_pass1)
    d = c.to_dict()
    assert d["worse"] == [{"task_id": "t/2", "old": [2, 2], "new": [4, 5], "old_rate": 1.0, "new_rate": 0.8}]


def test_infra_errors_are_not_judged():
    old = [row("a", True), row("b", True)]
    new = [row("a", True), row("b", False, et="infra_error")]
    c = compare(old, new, resamples=100)
    assert c.shared == 1 and c.only_old == ["b"] and c.worse == []


# ---------------------------------------------------------------- the regression verdict


def test_regressed_only_when_significant():
    clear = compare(rows_from({f"p/{i}": (1, 1) for i in range(40)}),
                    rows_from({f"p/{i}": (1, int(i >= 30)) for i in range(40)}), resamples=2000)
    assert len(clear.worse) == 30 and clear.p_value < 1e-8
    assert clear.regressed() and clear.regressed(0.001)
    assert "REGRESSED" in "\n".join(clear.lines())
    # the same problems, the other way round: an improvement is never a regression
    assert not compare(rows_from({f"p/{i}": (1, int(i >= 30)) for i in range(40)}),
                       rows_from({f"p/{i}": (1, 1) for i in range(40)}), resamples=500).regressed()
    # 5 of 5 lost: p = 0.0625, not significant at 0.05 though pass@1 dropped
    small = compare(rows_from({f"p/{i}": (1, 1) for i in range(20)}),
                    rows_from({f"p/{i}": (1, int(i >= 5)) for i in range(20)}), resamples=2000)
    assert small.delta < 0 and small.p_value == pytest.approx(0.0625)
    assert not small.regressed(0.05) and small.regressed(0.1)
    assert "no significant regression" in "\n".join(small.lines())
    with pytest.raises(ValueError, match="alpha"):
        small.regressed(1.5)


def test_many_small_losses_few_big_gains_is_not_a_regression():
    old = rows_from({**{f"a/{i}": (10, 10) for i in range(30)}, **{f"b/{i}": (10, 0) for i in range(5)}})
    new = rows_from({**{f"a/{i}": (10, 9) for i in range(30)}, **{f"b/{i}": (10, 10) for i in range(5)}})
    c = compare(old, new, resamples=1000)
    assert len(c.worse) == 30 and len(c.better) == 5 and c.p_value < 0.001  # the sign test alone would flag it
    assert c.delta > 0 and not c.regressed()


# ---------------------------------------------------------------- input errors


def test_bad_rows_name_line_and_field(tmp_path):
    with pytest.raises(InputError, match=r"new:2: field 'passed'"):
        compare([row("a", True)], [row("a", True), {"task_id": "a", "passed": "yes"}], new_label="new")
    p = tmp_path / "r_results.jsonl"
    p.write_text(json.dumps(row("a", True)) + "\n\n" + json.dumps({"passed": True}) + "\n")
    with pytest.raises(InputError, match=r"r_results.jsonl:3: field 'task_id'"):
        load_results(str(p))
    p.write_text(json.dumps(row("a", True)) + "\n" + json.dumps(row("b", False)) + "\n")
    assert [r["task_id"] for r in load_results(str(p))] == ["a", "b"]


# ---------------------------------------------------------------- tables


def test_side_by_side_matches_metrics_compute():
    a = rows_from({"x/1": (2, 1), "x/2": (2, 0)}) + [row("x/3", False, et="compile_error", compile_ok=False)] * 2
    b = rows_from({"x/1": (2, 2), "x/2": (2, 1)}) + [row("x/3", False, et="infra_error")]
    t = side_by_side({"ckpt1": a, "ckpt2": b}, [1, 2])
    json.loads(json.dumps(t))
    assert [e["model"] for e in t["models"]] == ["ckpt1", "ckpt2"]
    for entry, rows in zip(t["models"], (a, b)):
        m = compute(rows, [1, 2])
        for key in ("pass@1", "pass@2", "compile_rate", "samples", "problems", "error_counts", "infra_errors"):
            assert entry[key] == m[key], key
    assert t["error_types"] == ["passed", "compile_error", "infra_error", "test_failure"]
    lines = side_by_side_lines(t)
    assert lines[0].split() == ["model", "pass@1", "pass@2", "compile", "samples", "problems", "passed",
                                "compile_error", "infra_error", "test_failure"]
    assert lines[2].split() == ["ckpt1", "0.1667", "0.3333", "0.6667", "6", "3", "1", "2", "0", "3"]
    assert lines[3].split() == ["ckpt2", "0.7500", "1.0000", "1.0000", "5", "2", "3", "0", "1", "1"]
    assert "n/a(n<k)" in side_by_side_lines(side_by_side({"m": a}, [3]))[2]


def test_per_problem_table():
    a = rows_from({"x/10": (2, 1), "x/9": (1, 0)})
    b = rows_from({"x/9": (4, 3), "y/1": (1, 1)})
    t = per_problem_table({"a": a, "b": b})
    assert json.loads(json.dumps(t)) == t
    assert t["models"] == ["a", "b"]
    assert [p["task_id"] for p in t["problems"]] == ["x/9", "x/10", "y/1"]  # natural order
    assert t["problems"][0] == {"task_id": "x/9", "passed": [0, 3], "judged": [1, 4], "pass_rate": [0.0, 0.75]}
    assert t["problems"][1]["pass_rate"] == [0.5, None]
    lines = per_problem_lines(t)
    assert lines[2].split() == ["x/9", "0/1", "3/4"] and lines[3].split() == ["x/10", "1/2", "-"]
    assert per_problem_table({}) == {"models": [], "problems": []}
