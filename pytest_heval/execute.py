"""Judging samples: build with rustc and run, inside a sandboxed runner kept for the whole worker.

The verdict is a plain dict (JSON-serialisable: it travels from xdist workers to the controller).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import signal as _signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

import orjson

from . import jail as _jail_module
from .build import Toolchain, rustc_argv
from .program import END_TAG, TAMPER_EXIT, TAMPER_MESSAGE, Program, exit_guard
from .sandbox import Sandbox, runner_python

ERROR_TYPES = (
    "compile_error",
    "compile_timeout",
    "test_failure",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "tampering",
    "infra_error",
)

# samples run as an unprivileged uid of their own, one per worker (so process-count limits of one
# worker's samples never starve another's); far above the uids of real accounts
UID_BASE = 1_999_000_000

_SUMMARY = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed", re.M)


@dataclasses.dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # seconds for the test run
    compile_timeout: float = 30.0
    memory_mb: int = 4096  # address space per process
    output_limit: int = 8 * 1024 * 1024  # bytes of stdout+stderr before the run is killed
    tail: int = 4096  # characters of stdout/stderr kept in results
    nproc: int = 512  # processes+threads of the sample's uid
    fsize_mb: int = 512  # largest file a sample may write


def verdict(passed: bool, error_type: Optional[str], result: str, compile_ok: bool, **extra: Any) -> Dict[str, Any]:
    v = {"passed": passed, "result": result, "error_type": error_type, "compile_ok": compile_ok}
    v.update(extra)
    return v


def infra_verdict(message: str) -> Dict[str, Any]:
    return verdict(False, "infra_error", f"infra error: {message}", False, stdout="", stderr=message)


class RunnerError(Exception):
    pass


SPAWN_C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawn.c")


def _spawner_works(exe: str) -> bool:
    try:
        return subprocess.run([exe, "/", "-1", "0", "0", "0", "0", "0", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _cache_put(cache: str, name: str, data: bytes) -> None:
    """Atomically, for the next run; a cache that cannot be written is no error."""
    try:
        os.makedirs(cache, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=cache, prefix=".heval-spawn-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(part, 0o755)
        os.replace(part, os.path.join(cache, name))
    except OSError:
        pass


@functools.lru_cache(maxsize=None)
def spawner_binary() -> Optional[bytes]:
    """spawn.c compiled (once per process) with the C compiler rustc links with, or taken from
    ``$XDG_CACHE_HOME/pytest-heval`` (``~/.cache``) when an identical build is there (a compile is ~0.3 s).
    Static when the C library allows it, so that it needs nothing inside the sandbox. None without a
    working one."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.exists(SPAWN_C):
        return None
    with open(SPAWN_C, "rb") as f:
        code = f.read()
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pytest-heval")
    digest = hashlib.sha256(code + b"\0" + os.path.realpath(cc).encode() + b"\0" + os.uname().machine.encode())
    name = f"heval-spawn-{digest.hexdigest()[:20]}"
    if _spawner_works(os.path.join(cache, name)):
        with open(os.path.join(cache, name), "rb") as f:
            return f.read()
    with tempfile.TemporaryDirectory(prefix="heval-cc-") as tmp:
        exe = os.path.join(tmp, "heval-spawn")
        for extra in (["-static"], []):
            try:
                r = subprocess.run([cc, "-O2", *extra, "-o", exe, SPAWN_C], capture_output=True, timeout=120)
            except (OSError, subprocess.SubprocessError):
                return None
            if r.returncode == 0 and _spawner_works(exe):
                with open(exe, "rb") as f:
                    data = f.read()
                _cache_put(cache, name, data)
                return data
    return None


def build_spawner(dest: str) -> bool:
    """Put the runner's spawn helper at ``dest``; False (the runner then forks from Python) without one."""
    data = spawner_binary()
    if data is None:
        return False
    with open(dest, "wb") as f:
        f.write(data)
    os.chmod(dest, 0o755)
    return True


class Executor:
    """One per worker: a work root, a sandboxed runner process, and the judging logic."""

    def __init__(self, toolchain: Toolchain, sandbox: Sandbox, limits: Limits, worker: int = 0,
                 base_dir: Optional[str] = None):
        self.toolchain = toolchain
        self.sandbox = sandbox
        self.limits = limits
        self.worker = worker
        self.base_dir = base_dir
        self.root: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        self._seq = 0
        self._lock = threading.Lock()
        self.uid: Optional[int] = UID_BASE + worker if os.geteuid() == 0 else None

    # ---- runner lifecycle -------------------------------------------------------------
    def _make_root(self) -> str:
        root = tempfile.mkdtemp(prefix=f"heval-w{self.worker}-", dir=self.base_dir)
        os.chmod(root, 0o755)
        shutil.copy(_jail_module.__file__, os.path.join(root, "jail.py"))
        build_spawner(os.path.join(root, "heval-spawn"))  # without it the runner forks from Python (slower)
        lib = os.path.join(root, "lib")
        os.mkdir(lib)
        for so in self.toolchain.std_dylibs:
            shutil.copy(so, lib)
        os.mkdir(os.path.join(root, "toolchain"))
        return root

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.root is None:
            self.root = self._make_root()
        argv = [runner_python(), "-I", "-S", os.path.join(self.root, "jail.py")]
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
            os.killpg(self.proc.pid, _signal.SIGKILL)
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
            except Exception:
                try:
                    os.killpg(self.proc.pid, _signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
            self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def request(self, req: Dict[str, Any]) -> Dict[str, Any]:
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

    # ---- work dirs ---------------------------------------------------------------------
    def new_dir(self, name: str) -> str:
        assert self.root is not None
        d = os.path.join(self.root, name)
        os.mkdir(d)
        if self.uid is not None:
            os.chown(d, self.uid, self.uid)
        return d

    def env(self, workdir: str) -> Dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
                "RUST_BACKTRACE": "0", "RUST_MIN_STACK": "8388608"}

    @property
    def rustc(self) -> str:
        tc_dir = os.path.join(self.root, "toolchain") if self.sandbox.binds_toolchain else None
        return self.toolchain.rustc_in(tc_dir)

    @property
    def compile_uid(self) -> Optional[int]:
        # rustc runs unprivileged when the sandbox mounts the sysroot where that uid can reach it
        return self.uid if self.sandbox.binds_toolchain else None

    # ---- judging -------------------------------------------------------------------------
    def compile(self, src: str, out: str, style: str, edition: str, cwd: str, extra=(),
                full_stderr: bool = False) -> Dict[str, Any]:
        lim = self.limits
        return self.request({
            "argv": rustc_argv(self.rustc, src, out, style, edition, list(extra)),
            "cwd": cwd, "env": self.env(cwd), "timeout": lim.compile_timeout, "mem_mb": max(lim.memory_mb, 2048),
            "cpu_s": int(lim.compile_timeout) + 5, "fsize_mb": 1024, "uid": self.compile_uid,
            "out_limit": 64 * 1024 * 1024, "tail": 32 * 1024 * 1024 if full_stderr else lim.tail,
        })

    def run_binary(self, argv, cwd: str, nonce: Optional[str] = None) -> Dict[str, Any]:
        lim = self.limits
        env = self.env(cwd)
        if nonce:
            env["HEVAL_NONCE"] = nonce
        return self.request({
            "argv": list(argv), "cwd": cwd, "env": env, "timeout": lim.timeout, "mem_mb": lim.memory_mb,
            "cpu_s": int(lim.timeout) + 2, "fsize_mb": lim.fsize_mb, "nproc": lim.nproc, "nofile": 1024,
            "uid": self.uid, "out_limit": lim.output_limit, "tail": lim.tail, "keep_prefix": ["test ", END_TAG],
        })

    # ---- batches: many samples, one rustc ------------------------------------------------
    def build(self, programs: List[Program]) -> Dict[str, Dict[str, Any]]:
        """Build programs, batching the batchable ones into one crate per edition.

        Returns key -> {"exe", "filter", "dir"} for built programs, or {"verdict"} for failed builds.
        A sample is only called a compile error after it failed alone; its stderr is its own build's.
        """
        out: Dict[str, Dict[str, Any]] = {}
        alone: List[Program] = []
        groups: Dict[str, List[Program]] = {}
        for p in programs:
            if p.batchable and len(programs) > 1:
                groups.setdefault(p.edition, []).append(p)
            else:
                alone.append(p)
        for edition, group in groups.items():
            if len(group) == 1:
                alone.extend(group)
                continue
            alone.extend(self._build_batch(group, edition, out))
        for p in alone:
            out[p.key] = self._build_alone(p)
        return out

    def _seal(self, d: str) -> None:
        """Hand a build's files to root, read-only for the samples: a test run cannot change the binary
        (or anything else of the build) that the next sample of its batch runs."""
        for name in os.listdir(d):  # the sources (test text included) are not for the samples to read
            if name.endswith(".rs"):
                os.unlink(os.path.join(d, name))
        if self.uid is None:
            return
        for top, dirs, files in os.walk(d):
            os.chown(top, 0, 0)
            os.chmod(top, 0o755)
            for name in files:
                p = os.path.join(top, name)
                os.chown(p, 0, 0)
                os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)

    def _new_work_dir(self) -> str:
        self._seq_dir = getattr(self, "_seq_dir", 0) + 1
        return self.new_dir(f"b{self._seq_dir:07d}")

    def _build_alone(self, p: Program, check_first: bool = False) -> Dict[str, Any]:
        """Build one program alone. ``check_first``: it is expected to fail (it failed in a batch), so
        type-check it first (``--emit=metadata``, about half a build): a failure there is its verdict."""
        d = self._new_work_dir()
        src = os.path.join(d, "main.rs")
        with open(src, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(p.source)
        exe = os.path.join(d, "main")
        c = None
        if check_first:
            c = self.compile(src, os.path.join(d, "check.rmeta"), p.style, p.edition, d, extra=["--emit=metadata"])
            if c.get("rc") == 0 and not c.get("timed_out"):
                c = None  # it type-checks alone: build it for real
        if c is None:
            c = self.compile(src, exe, p.style, p.edition, d)
        v = classify_compile(c)
        if v is not None:
            v["compile_s"] = round(c.get("duration", 0.0), 4)
            shutil.rmtree(d, ignore_errors=True)
            return {"verdict": v}
        self._seal(d)
        return {"exe": exe, "filter": None, "dir": d, "compile_s": c.get("duration", 0.0), "shared": 1}

    def _write_batch(self, programs: List[Program]) -> tuple:
        d = self._new_work_dir()
        names = {}
        root = [exit_guard(self.toolchain.unsafe_attrs)]
        for i, p in enumerate(programs):
            name = f"s{i:04d}"
            names[name] = p
            with open(os.path.join(d, name + ".rs"), "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(p.body)
            root.append(f'#[path = "{name}.rs"] mod {name};')
        src = os.path.join(d, "root.rs")
        with open(src, "w") as f:
            f.write("\n".join(root) + "\n")
        return d, src, names

    def _build_batch(self, group: List[Program], edition: str, out: Dict[str, Dict[str, Any]]) -> List[Program]:
        """Build ``group`` as one crate; returns the programs that must be built alone.

        A failed build stops after type-checking, so it costs about what a check would; its JSON
        diagnostics name each error's file. The blamed samples are confirmed alone (their own verdict,
        their own stderr) and the rest is built again.
        """
        pending = list(group)
        for _round in range(8):  # each parse error costs a (short) round of its own
            if len(pending) < 2:
                return pending
            d, src, names = self._write_batch(pending)
            exe = os.path.join(d, "batch")
            c = self.compile(src, exe, "libtest", edition, d, extra=["--error-format=json"], full_stderr=True)
            if c.get("rc") == 0 and not c.get("timed_out"):
                self._seal(d)
                share = c.get("duration", 0.0) / len(pending)
                for name, p in names.items():
                    out[p.key] = {"exe": exe, "filter": name + "::", "dir": d, "compile_s": share,
                                  "shared": len(pending)}
                return []
            shutil.rmtree(d, ignore_errors=True)
            if c.get("timed_out") or c.get("error") or c.get("signal"):
                return pending  # one of them hangs rustc (or the toolchain broke): judge each alone
            bad = {n for n in _error_files(c.get("stderr", "")) if n in names}
            if not bad:
                return pending  # errors that name no sample (at link time, say): build each alone
            pending = [p for n, p in names.items() if n not in bad]
            for n in sorted(bad):
                out[names[n].key] = self._build_alone(names[n], check_first=True)
        return pending

    def run_built(self, p: Program, b: Dict[str, Any]) -> Dict[str, Any]:
        if "verdict" in b:
            return dict(b["verdict"])
        if p.style == "libtest":
            argv = [b["exe"], "--test-threads=1", "--nocapture", "--color=never"]
            if b["filter"]:
                argv.insert(1, b["filter"])
        else:
            argv = [b["exe"]]
        try:
            cwd = self._new_work_dir()  # its own clean, empty work dir, the only place it may write
            try:
                nonce = os.urandom(16).hex()
                r = self.run_binary(argv, cwd, nonce)
                r["nonce"] = nonce
            finally:
                shutil.rmtree(cwd, ignore_errors=True)
        except (RunnerError, OSError) as e:
            return infra_verdict(str(e))
        v = classify_run(r, p)
        v["run_s"] = round(r.get("duration", 0.0), 4)
        v["compile_s"] = round(b.get("compile_s", 0.0), 4)
        return v

    def judge(self, program: Program) -> Dict[str, Any]:
        """Build and run one program on its own (the engine's simplest entry point)."""
        t0 = time.monotonic()
        try:
            self.start()
            b = self.build([program])[program.key]
            v = self.run_built(program, b)
            if "dir" in b:
                shutil.rmtree(b["dir"], ignore_errors=True)
        except (RunnerError, OSError) as e:
            v = infra_verdict(str(e))
        v["duration_s"] = round(time.monotonic() - t0, 4)
        return v


def _error_files(stderr: str) -> set:
    """Sample module names (``s0003``) that rustc's JSON diagnostics blame for errors."""
    names = set()
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        try:
            d = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if d.get("level") not in ("error", "error: internal compiler error"):
            continue
        stack = [d]
        while stack:
            x = stack.pop()
            for span in x.get("spans") or ():
                base = os.path.basename(span.get("file_name", ""))
                if base.endswith(".rs") and base[:-3] != "root":
                    names.add(base[:-3])
                exp = span.get("expansion")
                while exp:
                    sp = exp.get("span") or {}
                    base = os.path.basename(sp.get("file_name", ""))
                    if base.endswith(".rs") and base[:-3] != "root":
                        names.add(base[:-3])
                    exp = sp.get("expansion")
            stack.extend(x.get("children") or ())
    return names


def _signame(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify_compile(c: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """A verdict when the build did not succeed, else None."""
    if c.get("error"):
        return infra_verdict(c["error"])
    if c.get("timed_out"):
        return verdict(False, "compile_timeout", "failed: compile timed out", False,
                       stdout="", stderr=c.get("stderr", ""))
    if c.get("rc") == 0:
        return None
    stderr = c.get("stderr", "")
    if c.get("rc") == 127 or "linker `cc` not found" in stderr:
        return infra_verdict(f"the toolchain failed (exit {c.get('rc')}): {stderr[-400:]}")
    first = next((ln for ln in stderr.splitlines() if ln.startswith("error")), "compilation failed")
    if c.get("signal"):
        first = f"rustc killed by {_signame(c['signal'])}" + (" (memory limit?)" if c["signal"] == 6 else "")
    return verdict(False, "compile_error", f"failed: {first}", False, stdout="", stderr=stderr)


def classify_run(r: Dict[str, Any], program: Program) -> Dict[str, Any]:
    out, err = r.get("stdout", ""), r.get("stderr", "")
    # libtest's "test <name> ... " lines, wherever they were in the stream (the tail may have lost them)
    test_lines = "\n".join(r.get("kept_lines") or ()) + "\n" + out
    nonce = r.get("nonce")
    proved = not program.proof or (bool(nonce) and (END_TAG + nonce) in (r.get("kept_lines") or ()))
    out = out.replace(END_TAG + nonce, "") if nonce else out
    base = {"stdout": out, "stderr": err, "exit_code": r.get("rc"), "signal": r.get("signal")}
    for key in ("stdout", "stderr"):
        if r.get(f"{key}_bytes", 0) > len(r.get(key, "").encode()):
            base[f"{key}_truncated"] = True

    def v(passed, et, result):
        return verdict(passed, et, result, True, **base)

    if r.get("error"):
        return infra_verdict(r["error"])
    if r.get("out_exceeded"):
        return v(False, "output_limit", f"failed: output limit exceeded ({r.get('stdout_bytes', 0) + r.get('stderr_bytes', 0)} bytes)")
    if r.get("timed_out"):
        return v(False, "timeout", "timed out")
    rc, sig = r.get("rc"), r.get("signal")
    if rc == TAMPER_EXIT and TAMPER_MESSAGE in err:
        return v(False, "tampering", "failed: the program exited with status 0 before its tests/main finished")
    abnormal = bool(sig) or rc not in (0, None)
    if abnormal and (re.search(r"memory allocation of \d+ bytes failed", err) or (sig == _signal.SIGKILL and "memory" in err)):
        return v(False, "memory_limit", "failed: memory limit exceeded")
    if program.style == "libtest":
        summaries = _SUMMARY.findall(out)
        if rc == 0 and summaries:
            status, n_pass, n_fail = summaries[-1][0], int(summaries[-1][1]), int(summaries[-1][2])
            missing = [t for t in program.expected_tests
                       if not re.search(rf"^test (?:\S+::)?{re.escape(t)} \.\.\. ", test_lines, re.M)]
            if status == "ok" and n_fail == 0 and n_pass >= 1 and not missing:
                if not proved:
                    return v(False, "tampering", "failed: the process did not end normally after its tests "
                                                 "(no end-of-run proof: a raw exit, an exec, ...)")
                return v(True, None, "passed")
            if n_pass == 0:
                return v(False, "test_failure", "failed: no test ran")
            return v(False, "tampering", f"failed: expected tests did not run: {', '.join(missing)}")
        if summaries and summaries[-1][0] == "FAILED":
            m = re.search(r"panicked at [^\n]*\n([^\n]*)", out + "\n" + err)
            return v(False, "test_failure", f"failed: {m.group(1).strip() if m else 'test failed'}")
        if sig:
            why = " (stack overflow)" if "overflowed its stack" in err else ""
            return v(False, "runtime_error", f"failed: killed by {_signame(sig)}{why}")
        return v(False, "runtime_error", f"failed: exit status {rc} without a libtest summary")
    # main style
    if rc == 0 and not sig:
        if not proved:
            return v(False, "tampering", "failed: the program did not return from main "
                                         "(no end-of-run proof: a raw exit, an exec, ...)")
        return v(True, None, "passed")
    if sig:
        why = " (stack overflow)" if "overflowed its stack" in err else ""
        return v(False, "runtime_error", f"failed: killed by {_signame(sig)}{why}")
    if rc == 101 and "panicked at" in err:
        m = re.search(r"panicked at [^\n]*\n([^\n]*)", err)
        return v(False, "test_failure", f"failed: {m.group(1).strip() if m else 'panicked'}")
    return v(False, "runtime_error", f"failed: exit status {rc}")
