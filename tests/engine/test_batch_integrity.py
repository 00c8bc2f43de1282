"""Batch-mates (issue 9, items 5, 7, 8) judged for real under firejail and bwrap: a completion that declares
modules named like its siblings, includes a sibling's file (``include!``, ``include_str!``) or loads it as a
module (``mod r#s0000;``, ``#[path]``) never passes when wrong, and its honest siblings keep their verdicts.
Two defences, each tested on its own: the token allow-list keeps such a completion out of the batch, and a run
names the problem's tests exactly, so even a hostile module inside the batch binary runs no test of its own in a
sibling's run. Plus ``--heval-deny``: a denied feature is a ``policy`` failure and is never built."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from pytest_heval.inputs.problems import Problem
from pytest_heval.program import assemble
from tests.helpers import grader

SANDBOXES = ("firejail", "bwrap")
PID = os.getpid()

ADD = Problem("BM/add", "fn add(a: i32, b: i32) -> i32 {\n",
              "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n"
              "    fn test_add() {\n        assert_eq!(add(2, 3), 5);\n        assert_eq!(add(-1, 1), 0);\n    }\n}\n",
              "2021", "humaneval", "test")
RIGHT = "    a + b\n}\n"
WRONG = "    a * b\n}\n"

# item 5: modules named like every sibling, each with a test that fails: under libtest's substring filter
# (`s0001::`) a sibling's run would run `s0000::s0001::spoiled` too and fail
SPOIL = """    a + b
}
macro_rules! spoil {
    ($($m:ident),*) => { $( pub mod $m { #[test] fn spoiled() { panic!("spoiled by a sibling sample"); } } )* };
}
spoil!(s0000, s0001, s0002, s0003);
"""
ATTACKS = {
    # item 7: a sibling's file compiled into the completion; it fails to compile alone
    "include": '    a * b\n}\nfn _sibling() -> i32 { include!("s0001.rs") }\n',
    "include_str": '    if include_str!("s0001.rs").contains("a + b") { a + b } else { a * b }\n}\n',
    "include_bytes": '    if include_bytes!("s0001.rs").len() > 1 { a + b } else { a * b }\n}\n',
    # item 8: a sibling's file loaded as a module (a raw identifier passes a `mod \\w+;` regex)
    "mod raw": "    s0001::add(a, b)\n}\nmod r#s0001;\n",
    "path": '    sib::add(a, b)\n}\n#[path = "s0001.rs"]\nmod sib;\n',
}


@pytest.fixture(scope="module", params=SANDBOXES)
def g(request):
    worker = 250_000 + (PID % 100_000) * 2 + SANDBOXES.index(request.param)
    with grader(request.param, worker=worker, timeout=5) as gr:
        yield gr


def _brief(v):
    return f"passed={v['passed']} error_type={v['error_type']} result={v['result']!r} stderr={v.get('stderr', '')[-300:]!r}"


@pytest.mark.parametrize("name", sorted(ATTACKS) + ["spoil"])
def test_batch_mate_attack_is_contained(g, name):
    attack = assemble(ADD, SPOIL if name == "spoil" else ATTACKS[name])
    right, wrong = assemble(ADD, RIGHT), assemble(ADD, WRONG)
    assert not attack.batchable and right.batchable and wrong.batchable
    before = g.builder.batch_builds
    # the attack first: it would be s0000, its honest siblings s0001 and s0002
    va, vr, vw = g.grade_programs([attack, right, wrong])
    assert g.builder.batch_builds == before + 1  # the honest ones still share one build
    assert vr["passed"] is True, _brief(vr)
    assert vw["passed"] is False and vw["error_type"] == "test_failure", _brief(vw)
    if name == "spoil":  # a correct add: its own spoiling tests never run, it passes like any correct add
        assert va["passed"] is True, _brief(va)
    else:
        assert va["passed"] is False and va["error_type"] == "compile_error", _brief(va)


def test_exact_test_names_protect_siblings_inside_one_binary(g):
    """Defence in depth: the spoiling completion forced into the batch crate (as if the allow-list had let it
    through). Run by exact test names, the siblings keep their verdicts; run by the old module filter, the
    honest sibling is spoiled -- the attack is real, and the exact names are what stops it."""
    attack, right, wrong = assemble(ADD, SPOIL), assemble(ADD, RIGHT), assemble(ADD, WRONG)
    out = {}
    assert g.builder._build_batch([attack, right, wrong], "2021", out) == []  # one crate: s0000, s0001, s0002
    b = {p.key: out[p.key] for p in (attack, right, wrong)}
    assert b[right.key].filter == "s0001::"
    v_right, v_wrong = g._run(right, b[right.key]), g._run(wrong, b[wrong.key])
    assert v_right["passed"] is True, _brief(v_right)
    assert v_wrong["error_type"] == "test_failure", _brief(v_wrong)
    old_style = dataclasses.replace(right, test_paths=())  # the module filter `s0001::`, a substring match
    spoiled = g._run(old_style, b[right.key])
    assert spoiled["passed"] is False and "s0000::s0001::spoiled ... FAILED" in spoiled["stdout"], _brief(spoiled)
    shutil.rmtree(b[right.key].dir, ignore_errors=True)


def test_denied_features_are_policy_failures_and_never_built(g):
    plain_unsafe = "    let v = [a, b];\n    unsafe { *v.get_unchecked(0) + *v.get_unchecked(1) }\n}\n"
    with_asm = '    unsafe { std::arch::asm!("nop") }\n    a + b\n}\n'
    programs = [assemble(ADD, plain_unsafe), assemble(ADD, RIGHT), assemble(ADD, with_asm)]
    saved = g.settings
    g.settings = dataclasses.replace(saved, deny="asm,unsafe")
    try:
        builds = g.builder.batch_builds + g.builder.alone_builds
        v = g.grade_programs(programs)
        built = g.builder.batch_builds + g.builder.alone_builds - builds
    finally:
        g.settings = saved
    assert v[0]["error_type"] == "policy" and v[0]["passed"] is False and "unsafe" in v[0]["result"], _brief(v[0])
    assert v[0]["features"] == ["unsafe"] and v[0]["compile_ok"] is False
    assert v[2]["error_type"] == "policy" and v[2]["features"] == ["asm", "unsafe"], _brief(v[2])
    assert v[1]["passed"] is True and v[1]["features"] == []
    assert built == 1  # only the allowed program was compiled
    # without the policy the same code passes: honest unsafe (and asm) is not a failure by itself
    v0, v2 = g.grade_programs([programs[0], programs[2]])
    assert v0["passed"] is True and v0["features"] == ["unsafe"], _brief(v0)
    assert v2["passed"] is True and v2["features"] == ["asm", "unsafe"], _brief(v2)
