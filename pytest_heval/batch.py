"""Building programs: many samples per rustc, split when a build fails, each failure confirmed alone.

Batchable programs of one edition become modules of one crate (``#[path = "s0007.rs"] mod s0007;``), built by
one ``rustc --test``; each sample's tests then run from that binary, filtered to its module. A batch that fails to
build is split with rustc's JSON diagnostics (each error names its file); a sample is only called a compile error
after it failed alone, and its stderr is that of its own build.

Main-style programs (the tests are the program's ``fn main``) batch the same way, into crates of their own: each
module's ``fn main`` is made ``pub`` and the crate's root ``main`` (the harness's, :func:`root_main`) calls the one
``argv[1]`` names, from the crate's own list; an unknown name exits 2. The guard's ``__wrap_main`` still wraps the
process's real ``main``, which returns only after the module's ``main`` returned.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from typing import Any, Callable, Dict, List, Optional, Tuple

from .crates import Crates
from .errors import SetupError
from .program import Program, exit_guard
from .sandbox import RunnerClient
from .settings import Limits
from .toolchain import GUARD_FLAGS, diagnostics
from .verdict import Verdict, classify_compile, infra_verdict


@dataclasses.dataclass(frozen=True)
class Build:
    """The outcome of building one program: a binary to run (``exe``, with the libtest ``filter`` of its module in a
    batch) in a sealed build dir, or the ``verdict`` of a build that failed."""

    exe: Optional[str] = None
    # in a batch crate: "s0007::" (libtest: the tests' filter), "s0007" (main style: argv[1], the module to run)
    filter: Optional[str] = None
    dir: Optional[str] = None
    compile_s: float = 0.0  # this program's share of the build's time
    shared: int = 1  # how many programs the build held
    verdict: Optional[Verdict] = None

    @property
    def ok(self) -> bool:
        return self.verdict is None


class Builder:
    def __init__(self, client: RunnerClient, limits: Limits, crates: Optional[Crates] = None):
        self.client = client
        self.limits = limits
        self.crates = crates  # None: programs that name a dataset crate build without it
        self.batch_builds = 0  # rustc runs over a batch crate (succeeded or not)
        self.alone_builds = 0  # rustc runs over one program

    def build(self, programs: List[Program]) -> Dict[str, Build]:
        """Build programs, batching the batchable ones into one crate per edition and set of dataset crates (only
        programs that name a crate get its ``--extern``): program key -> Build."""
        out: Dict[str, Build] = {}
        alone: List[Program] = []
        groups: Dict[tuple, List[Program]] = {}
        for p in programs:
            if p.crates and not self._crates_ready(p, out):
                continue
            if p.batchable and len(programs) > 1:
                groups.setdefault((p.style, p.edition, p.crates), []).append(p)
            else:
                alone.append(p)
        for (style, edition, _crates), group in groups.items():
            if len(group) == 1:
                alone.extend(group)
                continue
            alone.extend(self._build_batch(group, edition, out, style))
        for p in alone:
            out[p.key] = self._build_alone(p)
        return out

    def _crates_ready(self, p: Program, out: Dict[str, Build]) -> bool:
        """Whether ``p``'s crates can be had (built or found in the cache on first need); if not, its verdict says
        why (an infra_error naming what to install, not a compile error the sample did not make)."""
        if self.crates is None:
            return True
        try:
            self.crate_args(p.crates)
            return True
        except SetupError as e:
            out[p.key] = Build(verdict=infra_verdict(str(e)))
            return False

    def crate_args(self, crates: tuple) -> List[str]:
        if self.crates is None or not crates:
            return []
        self.client.start()  # the work root the crates are copied into
        return self.crates.args(crates, self.client.root)

    def _compile(self, *args, crates: tuple = (), extra: List[str] = (), **kw) -> Dict[str, Any]:
        # every program carries the exit guard, whose __wrap_main takes main's place: GUARD_FLAGS link it so
        return self.client.compile(self.limits, *args, extra=[*GUARD_FLAGS, *extra, *self.crate_args(crates)], **kw)

    def _build_alone(self, p: Program, check_first: bool = False) -> Build:
        """Build one program alone. ``check_first``: it is expected to fail (it failed in a batch), so type-check
        it first (``--emit=metadata``, about half a build): a failure there is its verdict."""
        self.alone_builds += 1
        d = self.client.new_dir()
        src = os.path.join(d, "main.rs")
        with open(src, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(p.source)
        exe = os.path.join(d, "main")
        c = None
        if check_first:
            c = self._compile(src, os.path.join(d, "check.rmeta"), p.style, p.edition, d, extra=["--emit=metadata"],
                              crates=p.crates)
            if c.get("rc") == 0 and not c.get("timed_out"):
                c = None  # it type-checks alone: build it for real
        if c is None:
            c = self._compile(src, exe, p.style, p.edition, d, crates=p.crates)
        v = classify_compile(c)
        if v is not None:
            v["compile_s"] = round(c.get("duration", 0.0), 4)
            shutil.rmtree(d, ignore_errors=True)
            return Build(verdict=v)
        self.client.seal(d)
        return Build(exe=exe, dir=d, compile_s=c.get("duration", 0.0))

    def _write_batch(self, programs: List[Program], style: str) -> tuple:
        d = self.client.new_dir()
        names = {}
        src, modules = write_crate(d, [p.module_body for p in programs], exit_guard(self.client.toolchain.unsafe_attrs),
                                   tail=root_main if style == "main" else None)
        names.update(zip(modules, programs))
        return d, src, names

    def _build_batch(self, group: List[Program], edition: str, out: Dict[str, Build],
                     style: str = "libtest") -> List[Program]:
        """Build ``group`` as one crate; returns the programs that must be built alone.

        A failed build stops after type-checking, so it costs about what a check would; its JSON diagnostics name
        each error's file. The blamed samples are confirmed alone (their own verdict, their own stderr) and the
        rest is built again.
        """
        pending = list(group)
        for _round in range(8):  # each parse error costs a (short) round of its own
            if len(pending) < 2:
                return pending
            self.batch_builds += 1
            d, src, names = self._write_batch(pending, style)
            # main style: named "main" as when built alone (argv[0]'s and /proc/self/comm's name are the same)
            exe = os.path.join(d, "batch" if style == "libtest" else "main")
            c = self._compile(src, exe, style, edition, d, extra=["--error-format=json"], full_stderr=True,
                              crates=pending[0].crates)
            if c.get("rc") == 0 and not c.get("timed_out"):
                self.client.seal(d)
                share = c.get("duration", 0.0) / len(pending)
                for name, p in names.items():
                    out[p.key] = Build(exe=exe, filter=name + "::" if style == "libtest" else name, dir=d,
                                       compile_s=share, shared=len(pending))
                return []
            shutil.rmtree(d, ignore_errors=True)
            if c.get("timed_out") or c.get("error") or c.get("signal"):
                return pending  # one of them hangs rustc (or the toolchain broke): judge each alone
            bad = {n for n in error_files(c.get("stderr", "")) if n in names}
            if not bad:  # errors that name no sample (at link time, say): halve the batch until they do, or are alone
                half = len(pending) // 2
                return self._build_batch(pending[:half], edition, out) + self._build_batch(pending[half:], edition, out)
            pending = [p for n, p in names.items() if n not in bad]
            for n in sorted(bad):
                out[names[n].key] = self._build_alone(names[n], check_first=True)
        return pending


def write_crate(d: str, bodies: List[str], head: str = "", pub: bool = False,
                tail: Optional[Callable[[List[str]], str]] = None) -> Tuple[str, List[str]]:
    """One crate of modules ``s0000``... in ``d``, a file each (rustc's diagnostics then name each one's file), under
    ``root.rs`` (which starts with ``head`` and ends with ``tail(module names)``): returns the root's path and the
    module names."""
    root, names = [head] if head else [], []
    for i, body in enumerate(bodies):
        name = f"s{i:04d}"
        names.append(name)
        with open(os.path.join(d, name + ".rs"), "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(body)
        root.append(f'#[path = "{name}.rs"] {"pub " if pub else ""}mod {name};')
    if tail is not None:
        root.append(tail(names))
    src = os.path.join(d, "root.rs")
    with open(src, "w") as f:
        f.write("\n".join(root) + "\n")
    return src, names


def root_main(names: List[str]) -> str:
    """The root ``main`` of a main-style batch crate: runs the ``main`` of the module ``argv[1]`` names (one of
    ``names``, each on a line of its own so that an error there blames that module), with the status the program
    alone would end with (``Termination``); any other name exits 2."""
    arms = "".join(f'        Some("{n}") => ::std::process::Termination::report({n}::main()),\n' for n in names)
    return ("fn main() -> ::std::process::ExitCode {\n"
            "    let __heval_run = ::std::env::args_os().nth(1);\n"
            "    match __heval_run.as_ref().and_then(|s| s.to_str()) {\n"
            f"{arms}"
            "        _ => {\n"
            '            ::std::eprintln!("heval: no such program in this batch");\n'
            "            ::std::process::ExitCode::from(2)\n"
            "        }\n"
            "    }\n"
            "}\n")


_MODULE_NAME = re.compile(r"\bs\d{4,}\b")


def error_files(stderr: str) -> set:
    """Sample module names (``s0003``) that rustc's JSON diagnostics blame for errors: an error in a module's file,
    or on a line of the root that names one module (a main-style root's call of ``s0003::main``)."""
    names = set()
    for d in diagnostics(stderr):
        if d.get("level") not in ("error", "error: internal compiler error"):
            continue
        stack = [d]
        while stack:
            x = stack.pop()
            for span in x.get("spans") or ():
                sp = span
                while sp:  # the span, then the spans of the macro expansions it came from
                    base = os.path.basename(sp.get("file_name", ""))
                    if base == "root.rs":
                        for line in sp.get("text") or ():
                            found = set(_MODULE_NAME.findall(line.get("text", "")))
                            if len(found) == 1:
                                names.update(found)
                    elif base.endswith(".rs"):
                        names.add(base[:-3])
                    sp = (sp.get("expansion") or {}).get("span")
            stack.extend(x.get("children") or ())
    return names
