"""The settings table: one source for options, ini keys, defaults, limits, the cache fingerprint and metadata."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_heval.settings import Limits, Settings, SettingsError
from pytest_heval.toolchain import Toolchain

TC = Toolchain("/x/rustc", "/x", "rustc 1.95.0 (abc 2026-04-14)", "x86_64-unknown-linux-gnu", ())


def test_defaults_and_option_names():
    s = Settings()
    assert (s.sandbox, s.timeout, s.compile_timeout, s.memory, s.batch, s.ks) == ("auto", 10.0, 30.0, 4096, 96,
                                                                                  [1, 10, 100])
    assert Settings.option("compile_timeout") == "--heval-compile-timeout"
    assert [f.name for f in Settings.table()][:3] == ["sandbox", "timeout", "compile_timeout"]
    assert all(f.metadata["help"] for f in Settings.table())


def test_from_values_parses_strings_and_ignores_unset():
    raw = {"timeout": "2.5", "memory": "1024", "k": "1,5", "edition": "", "batch": None}
    s = Settings.from_values(raw.get)
    assert (s.timeout, s.memory, s.ks, s.edition, s.batch) == (2.5, 1024, [1, 5], None, 96)
    assert s.limits == Limits(timeout=2.5, compile_timeout=30.0, memory_mb=1024, output_limit=8 * 1024 * 1024)


@pytest.mark.parametrize("raw,message", [
    ({"timeout": "soon"}, "--heval-timeout: 'soon' is not a valid number of seconds or auto"),
    ({"timeout": "0"}, "--heval-timeout: must be > 0"),
    ({"wall_timeout": "-1"}, "--heval-wall-timeout: must be > 0"),
    ({"timeout_factor": "0"}, "--heval-timeout-factor: must be > 0"),
    ({"batch": "-3"}, "--heval-batch: must be > 0"),
    ({"sandbox": "docker"}, "--heval-sandbox: 'docker' is not one of auto, firejail, bwrap, none"),
    ({"k": "1,x"}, "--heval-k: 'x' is not a positive integer"),
])
def test_bad_values_name_the_option(raw, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_values(raw.get)


def test_fingerprint_follows_what_decides_a_verdict():
    base = Settings()
    fp = base.fingerprint(TC, "firejail")
    assert fp == Settings().fingerprint(TC, "firejail")
    assert fp != base.fingerprint(TC, "bwrap")
    assert fp != dataclasses.replace(base, timeout=5.0).fingerprint(TC, "firejail")
    assert fp != base.fingerprint(dataclasses.replace(TC, version="rustc 1.96.0"), "firejail")
    # settings that cannot change a verdict do not change it
    assert fp == dataclasses.replace(base, batch=8, k="1", results="/tmp/x").fingerprint(TC, "firejail")


def test_grading_metadata_is_what_the_metrics_file_records():
    g = Settings(timeout=3.0).grading(TC, "bwrap")
    assert g["sandbox"] == "bwrap" and g["rustc"] == TC.version
    assert g["limits"] == {"timeout_s": 3.0, "timeout_kind": "cpu", "wall_timeout_s": "2 x timeout + 5",
                           "compile_timeout_s": 30.0, "memory_mib": 4096, "output_limit_bytes": 8 * 1024 * 1024}
    auto = Settings(timeout="auto", min_timeout=0.5).grading(TC, "bwrap")["limits"]
    assert (auto["timeout_s"], auto["min_timeout_s"], auto["timeout_factor"], auto["timeout_without_canonical_s"]) \
        == ("auto", 0.5, 4.0, 10.0)


def test_cpu_limit_and_wall_backstop():
    assert Settings(timeout=3.0).limits.wall == 11.0  # 2 x 3 + 5
    assert Settings(timeout=3.0, wall_timeout=4.0).limits.wall == 4.0
    s = Settings.from_values({"timeout": "AUTO", "wall_timeout": "30"}.get)
    assert s.auto_timeout and s.limits.timeout == 10.0 and s.limits.wall == 30.0


def test_the_guard_link_flag_is_in_the_recorded_flags():
    """Programs are linked with --wrap=main (the exit guard's report of main's return): the metrics' rustc flags
    and so the verdict-cache fingerprint say so, where the guard exists."""
    from pytest_heval.program import PROOF
    from pytest_heval.toolchain import GUARD_FLAGS

    flags = Settings().grading(TC, "bwrap")["rustc_flags"]
    assert ("link-arg=-Wl,--wrap=main" in flags) is PROOF
    assert GUARD_FLAGS == (("-C", "link-arg=-Wl,--wrap=main") if PROOF else ())
