"""Which samples are built together: batches of distinct programs, duplicates riding along.

Every process (the xdist controller and each worker) computes the same plan from the same inputs:
the controller uses it to send a whole batch to one worker, the worker to build that batch with one
rustc. Samples with the same key (the plugin's: the identity of problem + completion, see
``grader.plan_samples``; the engine's ``make_plan``: the assembled program's hash) get the batch of the first
one, so a run builds and runs each distinct key once, whichever worker has it.
"""

from __future__ import annotations

import math
from typing import Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

Ref = Tuple[str, int]  # (samples file, row index)

DEFAULT_BATCH = 96


def batch_size(distinct: int, batch: int, workers: int) -> int:
    """Batches of ``batch`` programs, smaller when there are too few to keep every worker busy (four batches per
    worker at least; ``workers`` 0: never smaller)."""
    if batch <= 1:
        return 1
    return max(1, min(batch, math.ceil(distinct / max(1, 4 * workers))))


KeyTable = Union[Sequence[Hashable], Mapping[int, Hashable]]  # row index -> program key


class Plan:
    """``keys``: per samples file, the program key of each of its rows (a sequence over every row, e.g. an array
    of ints, or a mapping over some rows); ``size``: distinct programs per batch. Nothing is held per sample beyond
    ``keys``: a million rows cost their key table, not a million tuples."""

    def __init__(self, keys: Mapping[str, KeyTable], size: int = DEFAULT_BATCH):
        self._keys = keys
        self.first_ref: Dict[Hashable, Ref] = {}
        self.samples = 0
        for path, table in keys.items():
            pairs = table.items() if isinstance(table, Mapping) else enumerate(table)
            for index, key in pairs:
                self.samples += 1
                if key not in self.first_ref:
                    self.first_ref[key] = (path, index)
        self.scope_of_key: Dict[Hashable, int] = {}
        self.keys_of_scope: Dict[int, List[Hashable]] = {}
        size = max(1, size)
        for i, key in enumerate(self.first_ref):  # dicts keep first-occurrence order
            scope = i // size
            self.scope_of_key[key] = scope
            self.keys_of_scope.setdefault(scope, []).append(key)
        self.size = size

    @classmethod
    def of(cls, refs: Iterable[Tuple[Ref, Hashable]], size: int = DEFAULT_BATCH) -> "Plan":
        """The plan of (sample ref, program key) pairs, in input order."""
        keys: Dict[str, Dict[int, Hashable]] = {}
        for (path, index), key in refs:
            keys.setdefault(path, {})[index] = key
        return cls(keys, size)

    def key(self, ref: Ref) -> Optional[Hashable]:
        """The program key of a planned sample (None: not planned)."""
        table = self._keys.get(ref[0])
        if table is None:
            return None
        try:
            return table[ref[1]]
        except (IndexError, KeyError):
            return None

    def __contains__(self, ref: Ref) -> bool:
        return self.key(ref) is not None

    def scope(self, ref: Ref) -> int:
        return self.scope_of_key[self.key(ref)]

    @property
    def distinct(self) -> int:
        return len(self.first_ref)

    @property
    def duplicates(self) -> int:
        return self.samples - len(self.first_ref)
