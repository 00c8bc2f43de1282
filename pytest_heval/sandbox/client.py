"""The engine's side of the sandbox: a work root, the sandboxed runner process, and requests to it.

One :class:`RunnerClient` per worker: it prepares a work root (the runner, the spawn helper, a copy of libstd,
a mount point for the toolchain), starts the runner inside the jail once, and sends it one JSON request per
command (a build or a test run) with that command's limits. Each command runs as a process of its own, as an
unprivileged uid of the worker's own, in a work dir of its own.

The dirs are private: the work root is 0711 (a sample passes through to its own dir and to ``lib/``, but cannot
list the root), the runner's files are root's alone, each work dir is 0700 and its uid's, and a built program is
execute-only (0111, root's, in a 0711 dir): the sample cannot read it, list it or change it, and the kernel runs a
binary its user cannot read non-dumpable, so ``/proc/self/mem``, ``environ``, ``fd/``... are root's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import Any, Dict, List, Optional, Sequence

import orjson

from ..program.guard import PROOF, PROOF_FD
from ..settings import Limits
from ..toolchain import Toolchain, rustc_argv
from . import runner as _runner_module
from .jails import Sandbox, runner_python
from .spawn import install_spawner

# samples run as an unprivileged uid of their own, one per worker (so process-count limits of one
# worker's samples never starve another's); far above the uids of real accounts
UID_BASE = 1_999_000_000


class RunnerError(Exception):
    """The sandboxed runner could not be started or died: the harness's fault."""


class RunnerClient:
    def __init__(self, toolchain: Toolchain, sandbox: Sandbox, worker: int = 0, base_dir: Optional[str] = None):
        self.toolchain = toolchain
        self.sandbox = sandbox
        self.worker = worker
        self.base_dir = base_dir
        self.root: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        self._seq = 0
        self._dirs = 0
        self._lock = threading.Lock()
        self.uid: Optional[int] = UID_BASE + worker if os.geteuid() == 0 else None

    # ---- lifecycle ---------------------------------------------------------------------
    def _make_root(self) -> str:
        # 0711: a sample's uid may pass through to its own dir and to lib/ (and, for rustc, toolchain/ and
        # crates/), but it cannot list the root, and the runner's own files are root's alone
        root = tempfile.mkdtemp(prefix=f"heval-w{self.worker}-", dir=self.base_dir)
        os.chmod(root, 0o711)
        runner = os.path.join(root, "runner.py")
        shutil.copy(_runner_module.__file__, runner)
        os.chmod(runner, 0o600)
        spawner = os.path.join(root, "heval-spawn")
        if install_spawner(spawner):  # without it the runner forks from Python (builds only: slower)
            os.chmod(spawner, 0o700)
        lib = os.path.join(root, "lib")
        os.mkdir(lib)
        os.chmod(lib, 0o755)  # the std dylibs every sample loads: public anyway
        for so in self.toolchain.std_dylibs:
            shutil.copy(so, lib)
            os.chmod(os.path.join(lib, os.path.basename(so)), 0o644)
        os.mkdir(os.path.join(root, "toolchain"))
        return root

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.root is None:
            self.root = self._make_root()
        argv = [runner_python(), "-I", "-S", os.path.join(self.root, "runner.py")]
        argv = self.sandbox.wrap(argv, self.root, self.toolchain.sysroot)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        try:
            hello = orjson.loads(line)
        except orjson.JSONDecodeError:
            hello = None
        if not hello or not hello.get("ready"):
            err = b""
            try:
                self.proc.kill()
                err = self.proc.communicate(timeout=10)[1]
            except Exception:
                pass
            self.proc = None
            raise RunnerError(f"the {self.sandbox.kind} sandbox failed to start: "
                              f"{err.decode(errors='replace').strip()[-600:] or line!r}")

    def _kill_runner(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass
        self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
                self.proc = None
            except Exception:
                self._kill_runner()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def request(self, req: Dict[str, Any]) -> Dict[str, Any]:
        """Send one request, return the runner's reply; a runner that died is restarted once."""
        with self._lock:
            for attempt in (1, 2):
                self.start()
                self._seq += 1
                req["id"] = self._seq
                try:
                    self.proc.stdin.write(orjson.dumps(req) + b"\n")
                    self.proc.stdin.flush()
                    line = self.proc.stdout.readline()
                    if not line:
                        raise BrokenPipeError("runner closed its output")
                    return orjson.loads(line)
                except (BrokenPipeError, OSError, orjson.JSONDecodeError) as e:
                    err = f"{type(e).__name__}: {e}"
                    self._kill_runner()
                    if attempt == 2:
                        raise RunnerError(f"the sandboxed runner died: {err}") from None
                except BaseException:
                    # interrupted mid-request (pytest-timeout's signal, Ctrl-C): the runner's state is
                    # unknown, so end it (and the sample it runs); the next request starts a fresh one
                    self._kill_runner()
                    raise
        raise AssertionError("unreachable")

    # ---- work dirs -----------------------------------------------------------------------
    def new_dir(self) -> str:
        """A fresh, empty directory in the work root, the sample uid's alone (0700)."""
        self.start()
        assert self.root is not None
        self._dirs += 1
        d = os.path.join(self.root, f"b{self._dirs:07d}")
        os.mkdir(d, 0o700)
        os.chmod(d, 0o700)  # whatever the umask
        if self.uid is not None:
            os.chown(d, self.uid, self.uid)
        return d

    def seal(self, d: str) -> None:
        """Hand a build's files to root, execute-only for the samples: a test run cannot change the binary (or
        anything else of the build) that the next sample of its batch runs, nor read it (the test names, another
        sample's code), nor list the dir. And a binary its uid cannot read runs non-dumpable (the kernel's
        would_dump at exec): its /proc/self/mem, environ, fd/... are root's. The sources (test text included) are
        deleted: they are not for the samples to read."""
        for name in os.listdir(d):
            if name.endswith(".rs"):
                os.unlink(os.path.join(d, name))
        for top, _dirs, files in os.walk(d):
            if self.uid is not None:
                os.chown(top, 0, 0)
            os.chmod(top, 0o711)
            for name in files:
                p = os.path.join(top, name)
                if self.uid is not None:
                    os.chown(p, 0, 0)
                os.chmod(p, 0o111 if os.access(p, os.X_OK) else 0o600)

    @staticmethod
    def env(workdir: str) -> Dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
                "RUST_BACKTRACE": "0", "RUST_MIN_STACK": "8388608"}

    # ---- commands ------------------------------------------------------------------------
    @property
    def rustc(self) -> str:
        assert self.root is not None
        tc_dir = os.path.join(self.root, "toolchain") if self.sandbox.binds_toolchain else None
        return self.toolchain.rustc_in(tc_dir)

    def compile(self, limits: Limits, src: str, out: str, style: str, edition: str, cwd: str,
                extra: Sequence[str] = (), full_stderr: bool = False) -> Dict[str, Any]:
        return self.tool(limits, rustc_argv(self.rustc, src, out, style, edition, list(extra)), cwd, full_stderr)

    def tool(self, limits: Limits, argv: List[str], cwd: str, full_stderr: bool = False) -> Dict[str, Any]:
        """Run a toolchain command (rustc, clippy-driver: ``argv[0]`` a path under :attr:`rustc`'s directory) with a
        build's limits."""
        # the toolchain runs unprivileged when the sandbox mounts the sysroot where that uid can reach it
        uid = self.uid if self.sandbox.binds_toolchain else None
        return self.request({
            "argv": list(argv),
            "cwd": cwd, "env": self.env(cwd), "timeout": limits.compile_timeout,
            "mem_mb": max(limits.memory_mb, 2048), "cpu_s": int(limits.compile_timeout) + 5, "fsize_mb": 1024,
            "uid": uid, "out_limit": 64 * 1024 * 1024, "tail": 32 * 1024 * 1024 if full_stderr else limits.tail,
        })

    def run(self, limits: Limits, argv: List[str], cwd: str, keep_prefix: Sequence[str] = ()) -> Dict[str, Any]:
        """Run a built program (a sample's tests): sealed (no exec after the spawn helper's own, see spawn.c),
        with the socket at PROOF_FD where the exit guard reports main's return (the reply's ``proof``). On
        x86_64 Linux; elsewhere neither exists. Stdout lines starting with a ``keep_prefix`` are kept apart.
        The CPU limit is on the whole process tree (the runner measures it; RLIMIT_CPU per process backs it), the
        wall-clock limit is the backstop for programs that sleep or block."""
        req = {
            "argv": list(argv), "cwd": cwd, "env": self.env(cwd), "timeout": limits.wall, "cpu_limit": limits.timeout,
            # RLIMIT_CPU, the per-process backstop, sits at the wall-clock one: the kernel counts against it the
            # time a busy VM's host stole (sum_exec_runtime), which /proc's utime+stime, what the CPU limit reads,
            # leave out (measured here: RLIMIT_CPU=5 killed busy loops at 4.77 CPU-s; at limit+2 = 22, 20 s loops
            # were killed at 19.6 CPU-s and read as runtime errors). One process cannot reach it before the wall
            # clock; the runner ends a tree at the CPU limit first.
            "mem_mb": limits.memory_mb, "cpu_s": int(limits.wall) + 2, "fsize_mb": limits.fsize_mb,
            "nproc": limits.nproc, "nofile": 1023,
            "uid": self.uid, "out_limit": limits.output_limit, "tail": limits.tail, "keep_prefix": list(keep_prefix),
        }
        if PROOF:
            req.update(seal=True, proof_fd=PROOF_FD)
        return self.request(req)
