"""The one table of grading settings: option and ini names, defaults, help, the limits a run applies, and what
goes into the verdict cache's fingerprint and the metrics file's metadata.

Each field of :class:`Settings` is a setting: ``--heval-<name>`` on the command line, ``heval_<name>`` in the ini
file (the command line wins), its default, its help. The pytest layer builds its options from this table; the
engine takes a :class:`Settings` and nothing else from the outside world.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Union

import orjson

from . import __version__
from .crates import crates_identity
from .errors import HevalError
from .features import FEATURES
from .metrics import parse_ks
from .plan import DEFAULT_BATCH
from .toolchain import Toolchain, flags_description

SANDBOX_KINDS = ("auto", "firejail", "bwrap", "none")
COMPLETION_FORMS = ("auto", "raw")


class SettingsError(HevalError):
    """A setting's value is not valid (the message names the option)."""


def _setting(default: Any, help: str, *, type: Callable = str, choices: Optional[Tuple[str, ...]] = None,
             what: Optional[str] = None) -> Any:
    """A field of :class:`Settings`: its default, its help, the type its string value is parsed with (``what``: its
    name in an error, default the type's)."""
    return dataclasses.field(default=default, metadata={"help": help, "type": type, "choices": choices,
                                                        "what": what or getattr(type, "__name__", "value")})


def boolean(value: Any) -> bool:
    """An on/off setting: a bare ``--heval-<name>`` on the command line, ``true``/``false`` (1/0, yes/no, on/off) in
    the ini file."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


AUTO = "auto"
# the default CPU limit; with --heval-timeout auto, the limit of a problem without a canonical solution
FIXED_TIMEOUT = 10.0


def seconds_or_auto(value: Any) -> Union[float, str]:
    """``--heval-timeout``: seconds, or ``auto`` (per problem, from its canonical solution's CPU time)."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    return float(value)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a build or a test run may use (the sandboxed runner applies them per process)."""

    timeout: float = FIXED_TIMEOUT  # CPU seconds (user+sys) of the test run's whole process tree
    wall_timeout: Optional[float] = None  # wall-clock backstop of a test run (None: 2 x timeout + 5 s)
    compile_timeout: float = 30.0
    memory_mb: int = 4096  # address space per process
    output_limit: int = 8 * 1024 * 1024  # bytes of stdout+stderr before the run is killed
    tail: int = 4096  # characters of stdout/stderr kept in results
    nproc: int = 512  # processes+threads of the sample's uid
    fsize_mb: int = 512  # largest file a sample may write

    @property
    def wall(self) -> float:
        """The wall-clock backstop for programs that sleep or block (they use no CPU)."""
        return self.wall_timeout if self.wall_timeout is not None else 2 * self.timeout + 5


@dataclasses.dataclass(frozen=True)
class Settings:
    sandbox: str = _setting("auto", "sandbox: auto (firejail, else bwrap), firejail, bwrap or none",
                            choices=SANDBOX_KINDS)
    timeout: Union[float, str] = _setting(FIXED_TIMEOUT, "CPU seconds (user+sys of its whole process tree) a "
                                          "sample's tests may use; 'auto': per problem, max(--heval-min-timeout, "
                                          "--heval-timeout-factor x its canonical solution's CPU time)",
                                          type=seconds_or_auto, what="number of seconds or auto")
    compile_timeout: float = _setting(30.0, "seconds a sample may take to compile", type=float)
    wall_timeout: Optional[float] = _setting(None, "wall-clock seconds a test run may take, for programs that sleep "
                                                   "or block (default: 2 x the CPU limit + 5)", type=float)
    min_timeout: float = _setting(1.0, "with --heval-timeout auto: the least CPU limit a problem gets", type=float)
    timeout_factor: float = _setting(4.0, "with --heval-timeout auto: a problem's CPU limit is this times its "
                                          "canonical solution's CPU time (at least --heval-min-timeout)", type=float)
    memory: int = _setting(4096, "MiB of address space per process", type=int)
    output_limit: float = _setting(8.0, "MiB of stdout+stderr before a run is killed", type=float)
    k: str = _setting("1,10,100", "the k of pass@k, comma-separated")
    edition: Optional[str] = _setting(None, "Rust edition for every problem (default: the problem's own)")
    results: Optional[str] = _setting(None, "directory for the results/metrics files (default: next to the samples)")
    batch: int = _setting(DEFAULT_BATCH, "distinct programs compiled per rustc (1: one sample per rustc)", type=int)
    cache: Optional[str] = _setting(None, "directory of a verdict cache kept across runs (default: none)")
    crates: Optional[str] = _setting(None, "directory of unpacked crate sources for the crates dataset programs "
                                           "import: rand, regex, md5 (default: Debian's /usr/share/cargo/registry; "
                                           "'none': build those programs without them)")
    # in grading(): one results file holds rows of one kind (a partial run or a resume cannot mix auto and raw)
    completion_form: str = _setting("auto", "auto: recognise each answer's form (a continuation, a full function, "
                                    "a markdown fence, its own main or tests...) and grade it as meant; raw: prompt + "
                                    "completion + test exactly as given", choices=COMPLETION_FORMS)
    deny: Optional[str] = _setting(None, "comma-separated features (" + ",".join(FEATURES) + ") whose samples "
                                   "fail as error type policy, before anything is built (default: none)")
    clippy: bool = _setting(False, "also lint every sample that compiled with the toolchain's clippy-driver "
                                   "(clippy_ok, clippy_lints, clippy_pass_rate)", type=boolean)
    clippy_args: str = _setting("-D warnings", "lint levels given to clippy-driver (write --heval-clippy-args='...')")

    @classmethod
    def table(cls) -> List[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @staticmethod
    def option(name: str) -> str:
        return "--heval-" + name.replace("_", "-")

    @classmethod
    def from_values(cls, lookup: Callable[[str], Any]) -> "Settings":
        """Settings from raw values (strings from a command line or an ini file; None: not given)."""
        values = {}
        for f in cls.table():
            raw = lookup(f.name)
            if raw is None or raw == "":
                continue
            typ = f.metadata["type"]
            try:
                value = typ(raw)
            except (TypeError, ValueError):
                raise SettingsError(f"{cls.option(f.name)}: {raw!r} is not a valid {f.metadata['what']}") from None
            choices = f.metadata["choices"]
            if choices and value not in choices:
                raise SettingsError(f"{cls.option(f.name)}: {raw!r} is not one of {', '.join(choices)}")
            values[f.name] = value
        s = cls(**values)
        s.check()
        return s

    def check(self) -> None:
        if not (self.auto_timeout or self.timeout > 0):
            raise SettingsError(f"{self.option('timeout')}: must be > 0 or auto, got {self.timeout!r}")
        if self.wall_timeout is not None and not self.wall_timeout > 0:
            raise SettingsError(f"{self.option('wall_timeout')}: must be > 0, got {self.wall_timeout!r}")
        for name in ("compile_timeout", "memory", "output_limit", "batch", "min_timeout", "timeout_factor"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{self.option(name)}: must be > 0, got {getattr(self, name)!r}")
        self.ks  # noqa: B018 -- validates --heval-k
        self.denied  # noqa: B018 -- validates --heval-deny
        self.clippy_argv  # noqa: B018 -- validates --heval-clippy-args

    @property
    def denied(self) -> FrozenSet[str]:
        """The features of ``--heval-deny``."""
        names = frozenset(x.strip() for x in (self.deny or "").split(",") if x.strip())
        unknown = sorted(names - set(FEATURES))
        if unknown:
            raise SettingsError(f"{self.option('deny')}: unknown feature(s) {', '.join(unknown)}; "
                                f"known: {', '.join(FEATURES)}")
        return names

    @property
    def clippy_argv(self) -> List[str]:
        try:
            return shlex.split(self.clippy_args)
        except ValueError as e:
            raise SettingsError(f"{self.option('clippy_args')}: {self.clippy_args!r}: {e}") from None

    @property
    def ks(self) -> List[int]:
        try:
            return parse_ks(self.k)
        except ValueError as e:
            raise SettingsError(str(e)) from None

    @property
    def auto_timeout(self) -> bool:
        return self.timeout == AUTO

    @property
    def limits(self) -> Limits:
        """The limits of a run; with ``--heval-timeout auto``, those of a problem without a canonical solution (the
        default fixed limit); a calibrated problem's own limit travels on its Program."""
        timeout = FIXED_TIMEOUT if self.auto_timeout else float(self.timeout)
        return Limits(timeout=timeout, wall_timeout=self.wall_timeout, compile_timeout=self.compile_timeout,
                      memory_mb=self.memory, output_limit=int(self.output_limit * 1024 * 1024))

    def grading(self, toolchain: Toolchain, sandbox_kind: str) -> Dict[str, Any]:
        """Everything that decides a verdict besides the program: recorded in the metrics file, hashed into the
        verdict cache's fingerprint (``sandbox_kind``: the sandbox actually used, ``auto`` resolved)."""
        lim = self.limits
        return {
            "rustc": toolchain.version,
            "rustc_flags": flags_description(),
            "sandbox": sandbox_kind,
            # timeout_s: CPU seconds of the run's process tree (auto: per problem, in the metrics' timeout_per_problem)
            "limits": {"timeout_s": self.timeout, "timeout_kind": "cpu",
                       "wall_timeout_s": self.wall_timeout if self.wall_timeout is not None else "2 x timeout + 5",
                       **({"min_timeout_s": self.min_timeout, "timeout_factor": self.timeout_factor,
                           "timeout_without_canonical_s": lim.timeout} if self.auto_timeout else {}),
                       "compile_timeout_s": lim.compile_timeout,
                       "memory_mib": lim.memory_mb, "output_limit_bytes": lim.output_limit},
            "edition_override": self.edition,
            # the crates programs may name (None: none can be built here): their versions decide those verdicts
            "crates": crates_identity(toolchain.rustc, self.crates),
            "deny": sorted(self.denied),
            "clippy_args": self.clippy_argv if self.clippy else None,
            "completion_form": self.completion_form,  # how answers become programs: a results file holds one kind
            "plugin_version": __version__,
        }

    def fingerprint(self, toolchain: Toolchain, sandbox_kind: str) -> str:
        data = orjson.dumps(self.grading(toolchain, sandbox_kind), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()
