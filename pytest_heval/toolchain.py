"""The Rust toolchain and the rustc command lines that build samples."""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import shutil
import subprocess
from typing import Any, Dict, Iterator, List, Optional

import orjson

from .errors import SetupError
from .program.guard import PROOF, WRAP_MAIN

# Measured in ../shared/notes/performance.md: these flags are the fastest that keep verdicts identical.
# prefer-dynamic links std as a shared library (the binary finds it through an rpath relative to itself);
# no incremental compilation (-C incremental=false would *enable* it into a directory named "false").
BASE_FLAGS = (
    "-C", "opt-level=0",
    "-C", "debuginfo=0",
    "-C", "strip=debuginfo",
    "-C", "codegen-units=1",
    "-C", "prefer-dynamic",
    "-C", "link-arg=-Wl,-rpath,$ORIGIN/../lib",
    "-A", "warnings",  # lint warnings cost time and bury errors; a sample's own #[deny] still applies
)
# Every program the engine builds carries the exit guard, whose __wrap_main takes main's place (to report its
# return): these link flags go with it (x86_64 Linux, where the guard exists; elsewhere none).
GUARD_FLAGS = ("-C", WRAP_MAIN) if PROOF else ()


@dataclasses.dataclass(frozen=True)
class Toolchain:
    rustc: str  # the real rustc binary (not the rustup proxy)
    sysroot: str
    version: str  # first line of `rustc -vV`
    host: str
    std_dylibs: tuple  # paths of libstd-*.so, copied next to the binaries

    @property
    def unsafe_attrs(self) -> bool:
        """``#[unsafe(no_mangle)]`` is accepted from rustc 1.82 on."""
        m = re.search(r"rustc (\d+)\.(\d+)", self.version)
        return bool(m) and (int(m.group(1)), int(m.group(2))) >= (1, 82)

    def rustc_in(self, toolchain_dir: Optional[str]) -> str:
        """The rustc path to use where the sysroot is mounted at ``toolchain_dir`` (None: where it lives)."""
        if toolchain_dir is None:
            return self.rustc
        return os.path.join(toolchain_dir, os.path.relpath(self.rustc, self.sysroot))


def find_toolchain(rustc: Optional[str] = None) -> Toolchain:
    """Resolve the real rustc behind any rustup proxy; a clear SetupError when there is none."""
    rustc = rustc or os.environ.get("RUSTC") or "rustc"
    exe = shutil.which(rustc)
    if exe is None:
        raise SetupError(
            f"rustc not found ({rustc!r} is not on PATH): install a Rust toolchain (https://rustup.rs or "
            "'apt-get install rustc') or set RUSTC; pytest-heval will not report 0% for a missing compiler"
        )
    try:
        sysroot = subprocess.run([exe, "--print", "sysroot"], capture_output=True, text=True, check=True,
                                 timeout=60).stdout.strip()
        real = os.path.join(sysroot, "bin", "rustc")
        if not os.access(real, os.X_OK):
            real = exe
        vv = subprocess.run([real, "-vV"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise SetupError(f"rustc at {exe} does not work: {e}") from None
    version = vv.splitlines()[0].strip() if vv else "rustc ?"
    m = re.search(r"^host: (\S+)", vv, re.M)
    host = m.group(1) if m else ""
    dylibs = tuple(sorted(glob.glob(os.path.join(sysroot, "lib", "rustlib", host, "lib", "libstd-*.so"))))
    if not dylibs:
        raise SetupError(f"the Rust sysroot {sysroot} has no libstd-*.so for {host}")
    return Toolchain(real, sysroot, version, host, dylibs)


def rustc_argv(rustc: str, src: str, out: str, style: str, edition: str, extra: List[str] = ()) -> List[str]:
    argv = [rustc, f"--edition={edition}"]
    if style == "libtest":
        argv.append("--test")
    argv += list(BASE_FLAGS)
    argv += list(extra)
    argv += [src, "-o", out]
    return argv


def diagnostics(stderr: str) -> Iterator[Dict[str, Any]]:
    """rustc's JSON diagnostics (``--error-format=json``) in its stderr; other lines are skipped."""
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                continue


def flags_description() -> str:
    """The flags every program is built with (metrics, verdict-cache fingerprint)."""
    return " ".join(BASE_FLAGS + GUARD_FLAGS)
