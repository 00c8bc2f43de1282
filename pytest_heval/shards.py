"""Which samples a run grades when it is one shard of several (``--heval-shard I/N``) or resumes an earlier run
(``--heval-resume``): sets of sample indexes, kept as bitmaps so that every xdist worker, local or remote, gets
the controller's choice (``workerinput``) in a few hundred KB even for a million samples.

A shard holds whole problems, so that each shard's pass@k per problem is already final and the merge only puts
rows side by side; problems are dealt largest first to the shard with the fewest samples so far (ties: by
task_id, then the lowest shard), so shards get about the same number of samples.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Dict, Iterable, Optional, Sequence, Tuple

import orjson

from .errors import HevalError
from .fsutil import file_sha256  # noqa: F401 -- part of this module's API (the shard's samples file)

Shard = Tuple[int, int]  # (I, N), 1 <= I <= N


def parse_shard(text: str) -> Shard:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise HevalError(f"--heval-shard {text!r}: want I/N with 1 <= I <= N, e.g. 2/4")
    return int(m.group(1)), int(m.group(2))


def shard_suffix(shard: Shard) -> str:
    """What a shard adds to its output files' names: ``samples.jsonl.shard-2-of-4_results.jsonl``."""
    return f".shard-{shard[0]}-of-{shard[1]}"


def deal_problems(counts: Dict[str, int], n: int) -> Dict[str, int]:
    """task_id -> shard (1..n): the largest problem first to the shard with the fewest samples so far."""
    load = [0] * n
    out: Dict[str, int] = {}
    for task_id, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        s = min(range(n), key=lambda j: (load[j], j))
        load[s] += c
        out[task_id] = s + 1
    return out


def shard_indexes(task_ids: Sequence[str], shard: Shard) -> "Bits":
    """The sample indexes (positions in ``task_ids``, the samples file's task ids in order) of shard I of N."""
    i, n = shard
    owner = deal_problems(Counter(task_ids), n)
    bits = Bits(len(task_ids))
    for index, t in enumerate(task_ids):
        if owner[t] == i:
            bits.add(index)
    return bits




def finished_indexes(results_path: str, n: int) -> "Bits":
    """Samples whose last whole row in a results file is a verdict (an ``infra_error`` row is the harness's
    failure: graded again). A torn last line is not a row."""
    last: Dict[int, bool] = {}
    if os.path.exists(results_path):
        with open(results_path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                row = orjson.loads(line)
                last[row["sample_index"]] = row.get("error_type") != "infra_error"
    bits = Bits(n)
    for index, done in last.items():
        if done and 0 <= index < n:
            bits.add(index)
    return bits


class Bits:
    """A set of the integers 0..n-1 as a bitmap (``bytes`` travel to xdist workers as they are)."""

    def __init__(self, n: int, data: Optional[bytes] = None):
        self.n = n
        self.data = bytearray(data) if data is not None else bytearray((n + 7) // 8)

    def add(self, i: int) -> None:
        self.data[i >> 3] |= 1 << (i & 7)

    def __contains__(self, i: int) -> bool:
        return 0 <= i < self.n and bool(self.data[i >> 3] >> (i & 7) & 1)

    def __len__(self) -> int:
        return int.from_bytes(self.data, "little").bit_count()

    def __or__(self, other: "Bits") -> "Bits":
        return Bits(self.n, bytes(a | b for a, b in zip(self.data, other.data)))

    def invert(self) -> "Bits":
        out = Bits(self.n, bytes(~b & 0xFF for b in self.data))
        if self.n % 8:  # no bits past n
            out.data[-1] &= (1 << (self.n % 8)) - 1
        return out

    def __iter__(self) -> Iterable[int]:
        return (i for i in range(self.n) if i in self)

    def to_wire(self) -> Tuple[int, bytes]:
        return self.n, bytes(self.data)

    @classmethod
    def from_wire(cls, wire: Sequence) -> "Bits":
        return cls(int(wire[0]), bytes(wire[1]))
