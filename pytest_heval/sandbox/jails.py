"""The jails: how the in-jail runner (:mod:`.runner`) is started (firejail, bwrap, or none).

One jail is started per worker (not per sample); every sample is a process of its own inside it.
All three kinds apply the same per-process limits (they are applied by the runner); the jails add:

* no network (a network namespace with nothing in it: even loopback listeners outside are unreachable),
* a file system that is read-only except the worker's own work root, with the home directory,
  the samples' directories and every other top-level directory hidden, except what the runner
  needs (the Python prefix and the Rust sysroot, both read-only),
* its own PID namespace, so nothing inside can signal or ptrace a process outside it.

The toolchain's sysroot is bind-mounted at ``<work root>/toolchain`` so that the unprivileged uid
that compiles and runs samples can reach it even when it lives in a 0700 home directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Iterable, List, Optional, Sequence

from ..errors import SetupError

from ..settings import SANDBOX_KINDS as KINDS

# top-level directories a program needs to run: visible read-only; everything else is hidden
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "sys")

INSTALL_HINT = (
    "install one (Debian/Ubuntu: 'apt-get install -y firejail' or 'apt-get install -y bubblewrap'), "
    "or pass '--heval-sandbox none' to run samples without one (rlimits, timeouts and output caps still apply)"
)


def runner_python() -> str:
    """The interpreter that runs the in-sandbox runner (``python -I -S``, standard library only): the base
    interpreter behind a virtualenv, so that the venv (in /tmp, in a hidden home directory...) need not be
    visible inside the sandbox."""
    base = getattr(sys, "_base_executable", None)
    for exe in (base, sys.executable):
        if exe and os.access(os.path.realpath(exe), os.X_OK):
            return os.path.realpath(exe)
    return sys.executable


def python_paths() -> List[str]:
    """What a sandbox must show for the runner's ``python -I -S`` to start: the base interpreter's prefix
    (and the interpreter's own directory when it lives elsewhere)."""
    paths = {os.path.realpath(sys.base_prefix)}
    exe = runner_python()
    if not any(exe.startswith(p + os.sep) for p in paths):
        paths.add(os.path.dirname(exe))
    return sorted(paths)


def _contains(parent: str, child: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def hidden_paths(keep: Iterable[str], top: str = "/") -> List[str]:
    """Paths to hide so that only SYSTEM_DIRS and ``keep`` (and the directories leading to them) remain.

    Computed recursively: a directory on the way to a kept path stays, its other entries are hidden.
    """
    keep = [os.path.realpath(k) for k in keep]
    out: List[str] = []

    def walk(d: str) -> None:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return
        for name in names:
            p = os.path.join(d, name)
            if d == "/" and name in SYSTEM_DIRS:
                continue
            if any(_contains(k, p) for k in keep):
                continue  # p is kept whole
            if any(_contains(p, k) for k in keep) and os.path.isdir(p) and not os.path.islink(p):
                walk(p)
            else:
                out.append(p)

    walk(top)
    return out


class Sandbox:
    kind = "none"

    def available(self) -> Optional[str]:
        """None when usable, else why not."""
        return None

    def wrap(self, argv: Sequence[str], work_root: str, sysroot: str) -> List[str]:
        return list(argv)

    @property
    def binds_toolchain(self) -> bool:
        return False


class NoSandbox(Sandbox):
    kind = "none"


def _probe(argv: List[str]) -> Optional[str]:
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{argv[0]} failed to start: {e}"
    if r.returncode != 0:
        return f"{argv[0]} does not work here (exit {r.returncode}): {r.stderr.decode(errors='replace').strip()[-400:]}"
    return None


class _ExternalJail(Sandbox):
    """A jail started by an external program (``exe``), checked by running ``true`` in it."""

    package = ""  # what to install
    probe: Sequence[str] = ()  # the arguments of the check, before "true"

    def __init__(self, exe: Optional[str] = None):
        self.exe = exe or shutil.which(self.kind) or self.kind

    def available(self) -> Optional[str]:
        if not shutil.which(self.exe):
            return f"{self.package} is not installed"
        return _probe([self.exe, *self.probe, "true"])


class Firejail(_ExternalJail):
    kind = "firejail"
    package = "firejail"
    probe = ("--noprofile", "--quiet", "--net=none")

    @property
    def binds_toolchain(self) -> bool:
        return os.geteuid() == 0  # --bind is root-only

    def wrap(self, argv: Sequence[str], work_root: str, sysroot: str) -> List[str]:
        # Notes for firejail 0.9.72: no --timeout (it costs ~2 s a call; we time out ourselves),
        # no --cwd (does not exist), and --noprofile (the default profile hides root's home, rustc with it).
        keep = python_paths() + [work_root, sysroot]
        args = [
            self.exe, "--noprofile", "--quiet", "--net=none", "--nosound", "--no3d", "--nodvd", "--notv",
            "--novideo", "--nou2f", "--private-dev",
            f"--whitelist={work_root}", "--read-only=/tmp", f"--read-write={work_root}",
        ]
        # /tmp shows only what is whitelisted: the interpreter or the toolchain may live there too
        args += [f"--whitelist={p}" for p in keep if p != work_root and _contains("/tmp", os.path.realpath(p))]
        # --read-only=/ cannot be combined with --bind in 0.9.72 (fs_blacklist: Read-only file system);
        # the system directories are made read-only one by one, and samples run as an unprivileged uid
        # that cannot write anywhere else anyway.
        for name in SYSTEM_DIRS + ("var",):
            p = "/" + name
            if name not in ("proc", "dev", "sys") and os.path.isdir(p) and not os.path.islink(p):
                args.append(f"--read-only={p}")
        if self.binds_toolchain:
            args.append(f"--bind={sysroot},{os.path.join(work_root, 'toolchain')}")
        for p in hidden_paths(keep):
            if p == "/tmp" or _contains("/tmp", p) or p == "/var":
                continue  # /tmp is replaced by the whitelist above; /var is read-only
            if p == "/run":
                # firejail needs /run/firejail: hide the rest (sockets of system services among it)
                args += [f"--blacklist={q}" for q in sorted(os.path.join(p, n) for n in os.listdir(p))
                         if q != "/run/firejail"]
                continue
            args.append(f"--blacklist={p}")
        return args + ["--"] + list(argv)


class Bwrap(_ExternalJail):
    kind = "bwrap"
    package = "bubblewrap (bwrap)"
    probe = ("--ro-bind", "/", "/", "--unshare-net", "--unshare-pid")

    @property
    def binds_toolchain(self) -> bool:
        return True

    def wrap(self, argv: Sequence[str], work_root: str, sysroot: str) -> List[str]:
        args = [self.exe, "--die-with-parent", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--new-session"]
        for name in SYSTEM_DIRS:
            p = "/" + name
            if name in ("proc", "dev"):
                continue
            if os.path.islink(p):
                args += ["--symlink", os.readlink(p), p]
            elif os.path.isdir(p):
                args += ["--ro-bind", p, p]
        # /tmp: a small root-owned tmpfs (mode 0755): samples write only inside their work dir
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(16 << 20), "--tmpfs", "/tmp"]
        for p in python_paths():
            args += ["--ro-bind", p, p]
        args += ["--bind", work_root, work_root, "--ro-bind", sysroot, os.path.join(work_root, "toolchain")]
        args += ["--chdir", work_root]
        return args + ["--"] + list(argv)


def get_sandbox(kind: str) -> Sandbox:
    """The sandbox asked for; ``auto`` picks firejail if it works, else bwrap, else a SetupError."""
    if kind not in KINDS:
        raise SetupError(f"--heval-sandbox: unknown sandbox {kind!r} (choose from {', '.join(KINDS)})")
    if kind == "none":
        return NoSandbox()
    candidates = [Firejail(), Bwrap()] if kind == "auto" else [Firejail() if kind == "firejail" else Bwrap()]
    reasons = []
    for sb in candidates:
        why = sb.available()
        if why is None:
            return sb
        reasons.append(why)
    raise SetupError(f"no working sandbox ({'; '.join(reasons)}): {INSTALL_HINT}")
