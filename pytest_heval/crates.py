"""Third-party crates that benchmark programs import (HumanEval-X / HumanEvalPack: ``rand``, ``regex``, ``md5``).

No crate registry is reachable at grading time, so the crates are built offline, once per toolchain and crate
sources, from a directory of unpacked crate sources: Debian's (``apt-get install librust-rand-dev librust-regex-dev
librust-md5-dev`` puts them under /usr/share/cargo/registry) or one the user names (``--heval-crates DIR``, same layout:
``<name>-<version>/`` with a ``Cargo.toml`` and a ``.cargo-checksum.json``, as ``cargo vendor`` writes).

The result is a cache entry, ``$XDG_CACHE_HOME/pytest-heval/crates/<key>/`` (``~/.cache`` by default)::

    <key>/crates.json          what was built: externs (crate -> rlib file name), versions, rustc, sources
    <key>/lib<name>-<hash>.rlib  the asked crates and all their dependencies (rlibs only: static, nothing at run time)

A program that uses a crate is built with ``--extern <crate>=<entry>/<rlib> -L dependency=<entry>``
(:meth:`CrateSet.rustc_args`); the entry can be copied or bound anywhere (``at=``), nothing in it names its own path.
Only programs that name a crate (:func:`crates_used`) get the arguments. In the engine, :class:`Crates` finds or
builds the set on first need and copies it into the worker's work root (``<root>/crates/``), which both jails show
at the same path; ``--heval-crates none`` builds those programs without crates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import FrozenSet, Iterable, List, Mapping, Optional, Tuple

from .fsutil import cache_dir as user_cache_dir
from .errors import SetupError

CRATES: Tuple[str, ...] = ("rand", "regex", "md5")
DEBIAN_REGISTRY = "/usr/share/cargo/registry"
DEBIAN_PACKAGES = "librust-rand-dev librust-regex-dev librust-md5-dev"
NO_CRATES = "none"  # --heval-crates none: programs that name a crate are built without it (and fail to compile)

# crates.io default features, except regex's "perf" (speed only; its aho-corasick and memchr are not in
# librust-regex-dev's dependencies): the programs see the same API and the same Unicode-aware matching.
_DEPENDENCY_SPEC = {
    "rand": '{ version = "*" }',
    "regex": '{ version = "*", default-features = false, features = ["std", "unicode"] }',
    "md5": '{ version = "*" }',
}
_RECIPE = 1  # bump when the way crates are built changes: old cache entries are then ignored

_MANIFEST = "crates.json"


# ---- which programs need crates ---------------------------------------------------------------------------------

_NAMES = "|".join(CRATES)
_ANY = re.compile(rf"\b(?:{_NAMES})\b")  # most programs name none: they skip the (slow) literal/comment split
_PATH_USE = re.compile(rf"(?<![\w:])(?:::\s*)?({_NAMES})\s*::")  # rand::Rng, ::regex::Regex, use md5::compute
_BARE_USE = re.compile(rf"\buse\s+(?:::\s*)?({_NAMES})\s*(?:;|\bas\b)")  # use md5;  use rand as r;
_EXTERN = re.compile(rf"\bextern\s+crate\s+({_NAMES})\b")
_USE_GROUP = re.compile(r"\buse\s+(?:::\s*)?\{([^;]*)\}\s*;")  # use {md5, rand::Rng};
_OWN_ITEM = re.compile(rf"\b(?:mod|struct|enum|union|trait|type)\s+({_NAMES})\b")


def crates_used(source: str) -> FrozenSet[str]:
    """The crates of :data:`CRATES` a Rust source names outside strings and comments.

    A crate the program defines itself (``mod rand {...}``) does not count: with ``--extern`` a ``use rand::..``
    would become ambiguous (E0659) where the program alone compiles.
    """
    if not _ANY.search(source):
        return frozenset()
    from .program.harden import _code_spans  # here: program.assemble imports this module
    code = "".join(chunk if is_code else " " for is_code, chunk in _code_spans(source))
    found = set()
    for pattern in (_PATH_USE, _BARE_USE, _EXTERN):
        found.update(m.group(1) for m in pattern.finditer(code))
    for m in _USE_GROUP.finditer(code):
        depth, start, body = 0, 0, m.group(1)
        for i, c in enumerate(body + ","):
            depth += c == "{"
            depth -= c == "}"
            if c == "," and depth == 0:
                first = re.match(r"\s*(?:::\s*)?(\w+)", body[start:i])
                if first and first.group(1) in CRATES:
                    found.add(first.group(1))
                start = i + 1
    found.difference_update(m.group(1) for m in _OWN_ITEM.finditer(code))
    return frozenset(found)


# ---- the built crates ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CrateSet:
    """Built crates in one directory: rlibs plus ``crates.json``."""

    dir: str
    key: str  # identifies toolchain + sources + recipe: part of a verdict-cache fingerprint
    externs: Mapping[str, str]  # crate name -> rlib file name in ``dir``
    versions: Mapping[str, str]  # crate name -> version built

    @property
    def files(self) -> List[str]:
        """Every file a program build may read (the engine copies these into a work root)."""
        return sorted(os.path.join(self.dir, f) for f in os.listdir(self.dir) if f.endswith(".rlib"))

    def install(self, dest: str) -> str:
        """Copy the rlibs into ``dest`` (a worker's work root: the cache may sit in a home the sandbox hides).

        Copies, not hard links: a sample running as the same user could otherwise rewrite the shared cache.
        """
        os.makedirs(dest, exist_ok=True)
        os.chmod(dest, 0o755)  # rustc may run as the sandbox's sample uid (the work root above is 0711)
        for f in self.files:
            shutil.copy(f, dest)
            os.chmod(os.path.join(dest, os.path.basename(f)), 0o644)
        return dest

    def rustc_args(self, crates: Iterable[str], at: Optional[str] = None) -> List[str]:
        """rustc arguments for a program using ``crates``; ``at`` is where ``dir`` is seen (default: itself).

        No crate, no argument: programs that use none are built exactly as without this module.
        """
        crates = sorted(set(crates))
        if not crates:
            return []
        missing = [c for c in crates if c not in self.externs]
        if missing:
            raise SetupError(f"the crates in {self.dir} do not include {', '.join(missing)}")
        at = self.dir if at is None else at
        args: List[str] = []
        for c in crates:
            args += ["--extern", f"{c}={os.path.join(at, self.externs[c])}"]
        return args + ["-L", f"dependency={at}"]


def default_cache_dir() -> str:
    return user_cache_dir("crates")


def find_cargo(rustc: str) -> str:
    """The cargo of the same toolchain as ``rustc`` (next to it), else the one on PATH."""
    beside = os.path.join(os.path.dirname(rustc), "cargo")
    if os.access(beside, os.X_OK):
        return beside
    exe = shutil.which("cargo")
    if exe is None:
        raise SetupError(f"cargo not found (not next to {rustc}, not on PATH): it builds the crates "
                         f"{', '.join(CRATES)} that some programs import; install it ('apt-get install cargo' "
                         "or rustup) next to the rustc that grades")
    return exe


@functools.lru_cache(maxsize=8)
def _tool_version(exe: str) -> str:
    try:
        return subprocess.run([exe, "-vV"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise SetupError(f"{exe} does not work: {e}") from None


def _check_sources(source_dir: str, crates: Iterable[str], named_by_user: bool) -> None:
    """A clear SetupError when a crate's sources are missing (cargo's own message would not say what to install)."""
    found = {c: sorted(glob.glob(os.path.join(source_dir, glob.escape(c) + "-[0-9]*", "Cargo.toml")))
             for c in crates}
    missing = [c for c, d in found.items() if not d]
    if missing:
        if not os.path.isdir(source_dir):
            where = f"{source_dir} does not exist"
        else:
            where = f"{source_dir} has no {', '.join(m + '-<version>/Cargo.toml' for m in missing)}"
        hint = ("pass a directory of unpacked crate sources (like `cargo vendor` writes)" if named_by_user else
                f"install Debian's crate sources (apt-get install {DEBIAN_PACKAGES}) or pass --heval-crates DIR, "
                "a directory of unpacked crate sources (like `cargo vendor` writes), or --heval-crates none to "
                "build those programs without them (they then fail to compile)")
        raise SetupError(f"the crates {', '.join(missing)} are needed (HumanEval-X / HumanEvalPack programs import "
                         f"them) but {where}: {hint}")


def _key(rustc: str, cargo: str, source_dir: str, crates: Tuple[str, ...]) -> str:
    """Changes with the toolchain, cargo, the crate sources present (name, version, Cargo.toml) and the recipe."""
    h = hashlib.sha256()
    h.update(f"recipe {_RECIPE}\n{_tool_version(rustc)}\n{_tool_version(cargo)}\n".encode())
    h.update(f"{os.path.realpath(source_dir)}\n{sorted(crates)}\n{sorted(_DEPENDENCY_SPEC.items())}\n".encode())
    for toml in sorted(glob.glob(os.path.join(source_dir, "*", "Cargo.toml"))):
        with open(toml, "rb") as f:
            h.update(os.path.basename(os.path.dirname(toml)).encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:20]


def _load(entry: str, key: str, crates: Iterable[str]) -> Optional[CrateSet]:
    """The cache entry, or None when it is absent or incomplete."""
    try:
        with open(os.path.join(entry, _MANIFEST), encoding="utf-8") as f:
            m = json.load(f)
        cs = CrateSet(entry, key, dict(m["externs"]), dict(m["versions"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not set(crates) <= set(cs.externs) or not all(os.path.isfile(os.path.join(entry, f))
                                                     for f in cs.externs.values()):
        return None
    return cs


def build_crates(rustc: str, source_dir: Optional[str] = None, crates: Iterable[str] = CRATES,
                 cache_dir: Optional[str] = None, log=None) -> CrateSet:
    """The built ``crates`` for this ``rustc`` (the real binary, see build.find_toolchain), from the cache when there.

    ``source_dir``: unpacked crate sources (default: Debian's registry). Concurrent callers (xdist workers, other
    runs) wait on a lock for one build; the entry appears complete or not at all (built aside, then renamed).
    ``log``: optional callable told about a build (it takes seconds).
    """
    named_by_user = source_dir is not None
    source_dir = os.path.abspath(source_dir or DEBIAN_REGISTRY)
    crates = tuple(sorted(set(crates)))
    unknown = [c for c in crates if c not in _DEPENDENCY_SPEC]
    if unknown:
        raise SetupError(f"no recipe for the crates {', '.join(unknown)} (known: {', '.join(CRATES)})")
    cargo = find_cargo(rustc)
    _check_sources(source_dir, crates, named_by_user)
    key = _key(rustc, cargo, source_dir, crates)
    cache_dir = cache_dir or default_cache_dir()
    entry = os.path.join(cache_dir, key)
    cs = _load(entry, key, crates)
    if cs is not None:
        return cs
    try:
        os.makedirs(cache_dir, exist_ok=True)
        lock = open(os.path.join(cache_dir, f".{key}.lock"), "a")
    except OSError as e:
        raise SetupError(f"cannot write the crate cache {cache_dir} ({e}): set XDG_CACHE_HOME to a writable "
                         "directory") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same entry: wait for it
        cs = _load(entry, key, crates)
        if cs is not None:
            return cs
        for stale in glob.glob(os.path.join(glob.escape(cache_dir), f".{key}-part-*")):
            shutil.rmtree(stale, ignore_errors=True)  # left by a build that was killed (we hold the lock)
        if log is not None:
            log(f"building the crates {', '.join(crates)} from {source_dir} (once per toolchain)")
        part = tempfile.mkdtemp(dir=cache_dir, prefix=f".{key}-part-")
        try:
            _cargo_build(rustc, cargo, source_dir, crates, part)
            os.chmod(part, 0o755)  # readable by the sandbox's other uid if the engine binds it in place
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(entry)  # an incomplete entry left by hand or by a full disk
            os.rename(part, entry)
        finally:
            shutil.rmtree(part, ignore_errors=True)
    cs = _load(entry, key, crates)
    if cs is None:
        raise SetupError(f"the crate build in {entry} is incomplete")
    return cs


def crates_identity(rustc: str, source_dir: Optional[str] = None) -> Optional[str]:
    """The cache key the crates would be built under (no build), None when they cannot be built here: part of
    the verdict-cache fingerprint, since a verdict of a program that names a crate depends on its version."""
    if source_dir == NO_CRATES:
        return NO_CRATES
    try:
        named = source_dir is not None
        source_dir = os.path.abspath(source_dir or DEBIAN_REGISTRY)
        _check_sources(source_dir, CRATES, named)
        return _key(rustc, find_cargo(rustc), source_dir, CRATES)
    except SetupError:
        return None


class Crates:
    """One worker's crates: found in the cache (or built) when a program first needs them, then copied into its
    work root (the sandbox hides the home the cache is in), where rustc reads them at the same path."""

    def __init__(self, rustc: str, source_dir: Optional[str] = None, cache_dir: Optional[str] = None):
        self.rustc, self.source_dir, self.cache_dir = rustc, source_dir, cache_dir
        self.set: Optional[CrateSet] = None
        self._error: Optional[SetupError] = None  # a failed build is not tried again for every program
        self._installed: Optional[str] = None

    def args(self, crates: Iterable[str], work_root: str) -> List[str]:
        """rustc arguments for a program naming ``crates``; [] for none. SetupError when they cannot be had."""
        crates = tuple(crates)
        if not crates or self.source_dir == NO_CRATES:
            return []
        if self._error is not None:
            raise self._error
        if self.set is None:
            try:
                self.set = build_crates(self.rustc, self.source_dir, CRATES, self.cache_dir)
            except SetupError as e:
                self._error = e
                raise
        dest = os.path.join(work_root, "crates")
        if self._installed != dest or not os.path.isdir(dest):
            self.set.install(dest)
            self._installed = dest
        return self.set.rustc_args(crates, at=dest)


def _cargo_build(rustc: str, cargo: str, source_dir: str, crates: Tuple[str, ...], out: str) -> None:
    """Build ``crates`` with cargo, offline, from ``source_dir``; put their rlibs and the manifest in ``out``."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="heval-crates-") as work:  # under /tmp: no ~/.cargo/config.toml above
        os.mkdir(os.path.join(work, "src"))
        with open(os.path.join(work, "src", "lib.rs"), "w") as f:
            f.write("")
        deps = "".join(f"{c} = {_DEPENDENCY_SPEC[c]}\n" for c in crates)
        with open(os.path.join(work, "Cargo.toml"), "w") as f:
            f.write('[package]\nname = "heval-crates"\nversion = "0.0.0"\nedition = "2021"\n\n'
                    f"[dependencies]\n{deps}\n[profile.release]\ndebug = 0\nincremental = false\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CARGO", "RUSTC", "RUSTFLAGS", "RUSTDOC", "RUSTUP"))}
        env.update(RUSTC=rustc, CARGO_HOME=os.path.join(work, "cargo-home"),
                   CARGO_TARGET_DIR=os.path.join(work, "target"))
        argv = [cargo, "build", "--release", "--lib", "--offline", "--message-format=json-render-diagnostics",
                "--config", f"source.crates-io.replace-with={json.dumps('heval-sources')}",
                "--config", f"source.heval-sources.directory={json.dumps(source_dir)}"]
        try:
            p = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as e:
            raise SetupError(f"building the crates with {cargo} failed: {e}") from None
        if p.returncode != 0:
            raise SetupError(f"building the crates {', '.join(crates)} from {source_dir} failed "
                             f"(cargo exit {p.returncode}):\n{p.stderr.strip()[-3000:]}")
        externs, versions, rlibs = {}, {}, set()
        for line in p.stdout.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("reason") != "compiler-artifact" or msg["target"]["name"] == "heval_crates":
                continue
            for path in msg["filenames"]:
                if path.endswith(".rlib"):
                    rlibs.add(path)
                    name = msg["target"]["name"]
                    if name in crates:
                        externs[name] = os.path.basename(path)
                        m = re.search(r"[@ ]v?(\d+\.\d+\.\d+\S*?)(?:\)|$| )", msg["package_id"])
                        versions[name] = m.group(1) if m else "?"
                elif path.endswith((".so", ".dylib")) and "proc-macro" in msg["target"]["kind"]:
                    rlibs.add(path)  # a proc-macro a crate's metadata may name: kept with the rlibs
        if set(externs) != set(crates):
            raise SetupError(f"cargo built no library for {', '.join(sorted(set(crates) - set(externs)))} "
                             f"from {source_dir}")
        for path in rlibs:
            shutil.copy(path, out)
        manifest = {"externs": externs, "versions": versions, "rustc": _tool_version(rustc).splitlines()[0],
                    "sources": source_dir, "build_seconds": round(time.monotonic() - started, 2)}
        with open(os.path.join(out, _MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
