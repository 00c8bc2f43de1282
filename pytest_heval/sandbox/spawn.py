"""The spawn helper (``spawn.c``): the last step before a sample's command runs inside the sandbox.

The in-jail runner starts it with ``posix_spawn``; it sets the limits and the uid, then execs the command
(about 1 ms per start, against ~3.5 ms for a Python fork with a preexec function). For a sample's test run it
also installs the seccomp filter of a sealed run (no exec after its own, see ``spawn.c``), which only it can do.
Compiled once with the C compiler rustc links with and kept in ``$XDG_CACHE_HOME/pytest-heval`` (``~/.cache``).
Without a C compiler the runner falls back to a Python fork with the same limits for builds, and refuses test
runs (they need the filter: ``infra_error``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import Optional

from ..fsutil import atomic_write, cache_dir

SPAWN_C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawn.c")


def _works(exe: str) -> bool:
    """Whether ``exe`` starts a command, sealed (so a helper whose seccomp filter cannot be installed counts as
    broken: sealed test runs need it)."""
    try:
        return subprocess.run([exe, "/", "-1", "0", "0", "0", "0", "0", "1", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=None)
def spawner_binary() -> Optional[bytes]:
    """spawn.c compiled (once per process), or taken from the cache when an identical build is there (a compile is
    ~0.3 s). Static when the C library allows it, so that it needs nothing inside the sandbox. None without a
    working one."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.exists(SPAWN_C):
        return None
    with open(SPAWN_C, "rb") as f:
        code = f.read()
    cache = cache_dir()
    digest = hashlib.sha256(code + b"\0" + os.path.realpath(cc).encode() + b"\0" + os.uname().machine.encode())
    cached = os.path.join(cache, f"heval-spawn-{digest.hexdigest()[:20]}")
    if _works(cached):
        with open(cached, "rb") as f:
            return f.read()
    with tempfile.TemporaryDirectory(prefix="heval-cc-") as tmp:
        exe = os.path.join(tmp, "heval-spawn")
        for extra in (["-static"], []):
            try:
                r = subprocess.run([cc, "-O2", *extra, "-o", exe, SPAWN_C], capture_output=True, timeout=120)
            except (OSError, subprocess.SubprocessError):
                return None
            if r.returncode == 0 and _works(exe):
                with open(exe, "rb") as f:
                    data = f.read()
                try:  # for the next run; a cache that cannot be written is no error
                    os.makedirs(cache, exist_ok=True)
                    atomic_write(cached, data, mode=0o755)
                except OSError:
                    pass
                return data
    return None


def install_spawner(dest: str) -> bool:
    """Put the spawn helper at ``dest``; False (the runner then forks from Python) without one."""
    data = spawner_binary()
    if data is None:
        return False
    atomic_write(dest, data, mode=0o755)
    return True
