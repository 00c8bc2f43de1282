"""Unit tests for metrics.py: pass@k, compile_rate, infra_error handling, --heval-k parsing, thresholds."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from pytest_heval.metrics import DEFAULT_K, compute, parse_ks, pass_at_k, threshold_check


def brute_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """Exact: the share of the k-subsets of n samples (the first c correct) that hold a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(1 for s in subsets if any(i < c for i in s)), len(subsets))


# ---------------------------------------------------------------- pass_at_k


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_pass_at_k(n, c, k)), abs=1e-12), (n, c, k)


def test_pass_at_k_closed_forms():
    for n in (1, 5, 20, 200):
        for c in range(n + 1):
            assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)
            assert pass_at_k(n, c, n) == (1.0 if c else 0.0)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # fewer than k wrong ones: every k-subset holds a correct one
    assert pass_at_k(10, 5, 5) == pytest.approx(1 - 1 / math.comb(10, 5))


def test_pass_at_k_large_n_is_stable():
    v = pass_at_k(10_000, 1, 100)
    assert v == pytest.approx(1 - math.comb(9_999, 100) / math.comb(10_000, 100), rel=1e-9)
    assert v == pytest.approx(0.01, rel=1e-9)
    assert 0.0 <= pass_at_k(100_000, 3, 1000) <= 1.0


def test_pass_at_k_needs_k_le_n():
    with pytest.raises(ValueError, match=r"pass@5 needs at least 5 samples, got 4"):
        pass_at_k(4, 1, 5)


# ---------------------------------------------------------------- compute


def row(tid, passed, compile_ok=True, et="__auto__"):
    if et == "__auto__":
        et = None if passed else ("test_failure" if compile_ok else "compile_error")
    return {"task_id": tid, "passed": passed, "compile_ok": compile_ok, "error_type": et}


def test_compute_pass_at_k_against_brute_force():
    rows = ([row("A", i < 2) for i in range(5)] + [row("B", False, compile_ok=i < 3) for i in range(5)]
            + [row("C", i != 4) for i in range(5)])
    m = compute(rows, [1, 3, 5])
    for k in (1, 3, 5):
        expected = (brute_pass_at_k(5, 2, k) + brute_pass_at_k(5, 0, k) + brute_pass_at_k(5, 4, k)) / 3
        assert m[f"pass@{k}"] == pytest.approx(float(expected), abs=1e-12)
    assert m["pass@1"] == pytest.approx((2 / 5 + 0 + 4 / 5) / 3)
    assert m["samples"] == m["judged"] == 15
    assert m["passed"] == 6
    assert m["compiled"] == 13
    assert m["compile_rate"] == pytest.approx(13 / 15)
    assert m["problems"] == 3
    assert m["samples_per_problem"] == {"min": 5, "max": 5}
    assert m["infra_errors"] == 0
    assert m["error_counts"] == {"compile_error": 2, "passed": 6, "test_failure": 7}


def test_compute_uneven_samples_per_task():
    rows = [row("A", True), row("A", False), row("A", False), row("B", True)]
    m = compute(rows, [1])
    assert m["pass@1"] == pytest.approx((1 / 3 + 1) / 2)
    assert m["samples_per_problem"] == {"min": 1, "max": 3}


def test_compute_n_less_than_k():
    rows = [row("A", True)] * 10 + [row("B", True)] * 9
    m = compute(rows, [1, 9, 10, 100])
    assert m["pass@1"] == 1.0 and m["pass@9"] == 1.0
    assert m["pass@10"] == "n/a (n < k)"
    assert m["pass@100"] == "n/a (n < k)"
    assert list(k for k in m if k.startswith("pass@")) == ["pass@1", "pass@9", "pass@10", "pass@100"]


def test_compute_infra_errors_excluded_and_counted():
    good = [row("A", True), row("A", False), row("B", False, compile_ok=False)]
    infra = [row("A", False, compile_ok=False, et="infra_error"), row("B", False, compile_ok=False, et="infra_error"),
             row("B", False, compile_ok=False, et="infra_error")]
    m = compute(good + infra, [1])
    base = compute(good, [1])
    assert m["pass@1"] == base["pass@1"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["compile_rate"] == base["compile_rate"] == pytest.approx(2 / 3)
    assert m["infra_errors"] == 3 and base["infra_errors"] == 0
    assert m["samples"] == 6 and m["judged"] == 3
    assert m["error_counts"]["infra_error"] == 3
    assert m["samples_per_problem"] == {"min": 1, "max": 2}


def test_compute_infra_errors_make_n_short():
    """A task left with fewer than k judged samples has no pass@k, even if infra rows made up the count."""
    rows = [row("A", True), row("A", True, et="infra_error")]
    m = compute(rows, [1, 2])
    assert m["pass@1"] == 1.0
    assert m["pass@2"] == "n/a (n < k)"


def test_compute_only_infra_errors():
    m = compute([row("A", False, compile_ok=False, et="infra_error")], [1])
    assert m["pass@1"] == "n/a (no samples)"
    assert m["compile_rate"] is None
    assert m["problems"] == 0 and m["samples_per_problem"] is None
    assert m["infra_errors"] == 1 and m["samples"] == 1 and m["judged"] == 0


def test_compute_no_rows():
    m = compute([], list(DEFAULT_K))
    assert all(m[f"pass@{k}"] == "n/a (no samples)" for k in DEFAULT_K)
    assert m["compile_rate"] is None and m["samples"] == 0 and m["error_counts"] == {}


def test_compute_accepts_a_generator_and_is_json_ready():
    import json
    m = compute((row("A", i % 2 == 0) for i in range(4)), [1, 2])
    assert m["pass@1"] == 0.5
    assert json.loads(json.dumps(m)) == m


def test_compile_rate_counts_compile_ok_not_passed():
    rows = [row("A", False, compile_ok=True, et="timeout"), row("A", False, compile_ok=False)]
    assert compute(rows, [1])["compile_rate"] == 0.5


# ---------------------------------------------------------------- parse_ks


def test_parse_ks():
    assert parse_ks("1,10,100") == [1, 10, 100]
    assert parse_ks(" 10 , 1,10,") == [1, 10]
    assert parse_ks("5") == [5]
    assert parse_ks([10, 1, 10]) == [1, 10]
    assert parse_ks(("3", 2)) == [2, 3]


@pytest.mark.parametrize("text,bad", [("0", "'0'"), ("1,-1", "'-1'"), ("1,x", "'x'"), ("1.5", "'1.5'"),
                                      ("1;10", "'1;10'"), ("+1", "'+1'")])
def test_parse_ks_bad_value(text, bad):
    with pytest.raises(ValueError) as ei:
        parse_ks(text)
    assert str(ei.value) == f"--heval-k: {bad} is not a positive integer"


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"])
def test_parse_ks_empty(text):
    with pytest.raises(ValueError, match="--heval-k: no k given"):
        parse_ks(text)


# ---------------------------------------------------------------- threshold_check


def test_threshold_check():
    m = {"pass@1": 0.5, "pass@10": "n/a (n < k)", "compile_rate": None, "pass@5": 1}
    assert threshold_check(m, "pass@1", 0.5) == (True, "pass@1 = 0.5000 >= 0.5")
    assert threshold_check(m, "pass@1", 0.4)[0] is True
    assert threshold_check(m, "pass@1", 0.51) == (False, "pass@1 = 0.5000 < 0.51")
    assert threshold_check(m, "pass@5", 1.0)[0] is True
    ok, msg = threshold_check(m, "pass@10", 0.1)
    assert not ok and msg == "pass@10 is 'n/a (n < k)', required >= 0.1"
    ok, msg = threshold_check(m, "compile_rate", 0.0)
    assert not ok and msg == "compile_rate is None, required >= 0.0"
    ok, msg = threshold_check(m, "pass@100", 0.0)
    assert not ok and "pass@100 is None" in msg


def test_threshold_check_float_rounding():
    """A mean that is 0.1 up to float rounding meets a threshold of 0.1."""
    m = compute([row("A", True)] + [row("A", False)] * 9 + [row("B", True)] * 2 + [row("B", False)] * 8
                + [row("C", False)] * 10, [1])
    assert threshold_check(m, "pass@1", 0.1)[0] is True
    assert threshold_check({"x": 0.1 + 0.2}, "x", 0.3)[0] is True
    assert threshold_check({"x": 0.3 - 1e-9}, "x", 0.3)[0] is False
