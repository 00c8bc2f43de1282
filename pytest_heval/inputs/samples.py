"""Samples files: JSONL rows ``{task_id, completion, ...}``, indexed rather than held.

A samples file of a million rows is a gigabyte of text: no process keeps it. :class:`SampleSet` reads the file once
(validating every row, naming file, line and field), and keeps per sample only what every process needs often: its
task id (one shared string per task), its problem (one object per problem), where its row starts in the file and
the identity of its program's inputs (:attr:`SampleSet.ident`: equal for two samples with the same problem and
completion, so duplicates are known without assembling any program). A row is read back from the file when asked
for (:meth:`SampleSet.sample`); a gzip file is decompressed once into an unnamed temporary file for that.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from array import array
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import orjson

from ..errors import InputError
from .jsonl import BLANK, parse_line
from .multipl_e import completion_sample, expand_completions, is_completions_row


@dataclasses.dataclass(frozen=True)
class Sample:
    path: str
    index: int  # 0-based row index in the file (blank lines do not count)
    line: int  # 1-based line number, for error messages
    task_id: str
    completion: str
    row: Dict[str, Any]  # every field of the input row, copied to the result row

    @property
    def name(self) -> str:
        return f"{self.task_id}#{self.index}"


ProblemFor = Callable[[Sample], Any]  # a sample -> its Problem (raises InputError when it has none)


def _check_row(path: str, lineno: int, row: Any) -> None:
    if not isinstance(row, dict):
        raise InputError(path, f"a sample must be a JSON object, got {type(row).__name__}", line=lineno)
    for field in ("task_id", "completion"):
        if field not in row:
            raise InputError(path, "missing required field", line=lineno, field=field)
        if not isinstance(row[field], str):
            raise InputError(path, f"must be a string, got {type(row[field]).__name__}", line=lineno, field=field)
    if not row["task_id"]:
        raise InputError(path, "must not be empty", line=lineno, field="task_id")
    for field in ("prompt", "test"):
        if field in row and not isinstance(row[field], str):
            raise InputError(path, f"must be a string, got {type(row[field]).__name__}", line=lineno, field=field)


def _lines(path: str) -> Tuple[IO[bytes], Iterator[Tuple[int, int, bytes]]]:
    """The file to read rows back from, and (offset, 1-based line, bytes) of each of its lines. A gzip file (by
    magic number) is first decompressed into an unnamed temporary file; a UTF-8 BOM is skipped."""
    try:
        f: IO[bytes] = open(path, "rb")
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        tmp = tempfile.TemporaryFile(prefix="heval-samples-")
        try:
            with f, gzip.GzipFile(fileobj=f, mode="rb") as z:
                shutil.copyfileobj(z, tmp, 1 << 20)
        except (OSError, EOFError, zlib.error) as e:
            tmp.close()
            raise InputError(path, f"corrupt or truncated gzip data: {e}") from None
        f = tmp
    f.seek(0)
    return f, _offsets(f)


def _offsets(f: IO[bytes]) -> Iterator[Tuple[int, int, bytes]]:
    offset = 0
    for lineno, raw in enumerate(f, start=1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            offset, raw = 3, raw[3:]
        yield offset, lineno, raw
        offset += len(raw)


class SampleSet:
    """The samples of one file, in order: ``len()``, :attr:`task_ids`, :meth:`sample` (the whole row, read back),
    :meth:`problem`, :attr:`ident`; it is a sequence of its samples, and ``.problems`` a sequence view of theirs."""

    def __init__(self, path: str, problem_for: ProblemFor):
        self.path = path
        self.task_ids: List[str] = []
        self.distinct_problems: List[Any] = []  # each problem once, in first-use order
        self._problem_ix = array("I")  # sample -> index in distinct_problems
        self._offset = array("Q")  # sample -> byte offset of its row (in self._file)
        self._line = array("I")  # sample -> 1-based line number
        self._sub = array("I")  # sample -> its position in a MultiPL-E completions row (0 for a plain row)
        self.ident = array("I")  # sample -> index in self.idents
        self.idents: List[bytes] = []  # each distinct (problem, completion) digest once
        self._file: Optional[IO[bytes]] = None
        self._last: Tuple[int, Any] = (-1, None)  # (offset, row) of the last row read back
        self._scan(problem_for)

    # ---- reading -----------------------------------------------------------------------------
    def _scan(self, problem_for: ProblemFor) -> None:
        path = self.path
        task_ids: Dict[str, str] = {}
        problem_ix: Dict[Any, int] = {}  # problem identity -> index
        digest_of: List[bytes] = []  # per distinct problem
        ident_ix: Dict[bytes, int] = {}

        def add(offset: int, lineno: int, sub: int, s: Sample) -> None:
            problem = problem_for(s)
            pkey = (problem.task_id, problem.head, problem.test, problem.edition, problem.fmt)
            pi = problem_ix.get(pkey)
            if pi is None:
                pi = problem_ix[pkey] = len(self.distinct_problems)
                self.distinct_problems.append(problem)
                h = hashlib.blake2b(digest_size=16)
                for part in pkey:
                    h.update(part.encode("utf-8", "surrogatepass") + b"\0")
                digest_of.append(h.digest())
            d = hashlib.blake2b(digest_of[pi] + s.completion.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            ii = ident_ix.get(d)
            if ii is None:
                ii = ident_ix[d] = len(self.idents)
                self.idents.append(d)
            self.task_ids.append(task_ids.setdefault(s.task_id, s.task_id))
            self._problem_ix.append(pi)
            self._offset.append(offset)
            self._line.append(lineno)
            self._sub.append(sub)
            self.ident.append(ii)

        self._file, lines = _lines(path)
        for offset, lineno, raw in lines:
            row = parse_line(path, lineno, raw)
            if row is BLANK:
                continue
            if is_completions_row(row):
                for j, (task_id, completion, sample_row) in enumerate(expand_completions(path, lineno, row)):
                    add(offset, lineno, j, Sample(path, len(self.task_ids), lineno, task_id, completion, sample_row))
                continue
            _check_row(path, lineno, row)
            add(offset, lineno, 0, Sample(path, len(self.task_ids), lineno, row["task_id"], row["completion"], row))
        if not self.task_ids:
            raise InputError(path, "the samples file is empty (no JSON rows)")

    def sample(self, index: int) -> Sample:
        """The sample at ``index``, its row read back from the file."""
        offset, lineno = self._offset[index], self._line[index]
        if self._last[0] == offset:
            row = self._last[1]
        else:
            row = orjson.loads(self._read_line(offset))
            self._last = (offset, row)
        if is_completions_row(row):
            task_id, completion, sample_row = completion_sample(self.path, lineno, row, self._sub[index])
            return Sample(self.path, index, lineno, task_id, completion, sample_row)
        return Sample(self.path, index, lineno, row["task_id"], row["completion"], row)

    def _read_line(self, offset: int) -> bytes:
        assert self._file is not None
        fd = self._file.fileno()
        data = os.pread(fd, 4096, offset)
        end = data.find(b"\n")
        while end < 0:  # a long row
            more = os.pread(fd, 1 << 16, offset + len(data))
            if not more:
                return data
            end = more.find(b"\n")
            if end >= 0:
                end += len(data)
            data += more
        return data[:end]

    def problem(self, index: int) -> Any:
        return self.distinct_problems[self._problem_ix[index]]

    def line(self, index: int) -> int:
        return self._line[index]

    def __len__(self) -> int:
        return len(self.task_ids)

    def __iter__(self) -> Iterator[Sample]:
        return (self.sample(i) for i in range(len(self)))

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.sample(index)

    @property
    def samples(self) -> "SampleSet":
        """The set itself (a sequence of its samples), for callers written against a list."""
        return self

    @property
    def problems(self) -> "_View":
        return _View(len(self), self.problem)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        self.close()


class _View(Sequence):
    """A read-only sequence whose items are made when asked for."""

    def __init__(self, n: int, get: Callable[[int], Any]):
        self._n, self._get = n, get

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._get(i)


def load_samples(path: str) -> List[Sample]:
    """Read and validate a samples file (every row held: for small files and tests); raise InputError naming file,
    line and field.

    A MultiPL-E completions row (``{name, prompt, tests, completions: [...]}``) is one sample per completion; the
    sample index counts the expanded samples in file order."""
    ss = SampleSet(path, lambda s: _NoProblem)
    try:
        return list(ss)
    finally:
        ss.close()


class _NoProblem:  # load_samples reads rows only: every sample gets this stand-in for a problem
    task_id = head = test = edition = fmt = ""
