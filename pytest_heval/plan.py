"""Which samples are built together: batches of distinct programs, duplicates riding along.

Every process (the xdist controller and each worker) computes the same plan from the same inputs:
the controller uses it to send a whole batch to one worker, the worker to build that batch with one
rustc. Identical programs get the batch of their first occurrence, so a run builds and runs each
distinct program once, whichever worker has it.
"""

from __future__ import annotations

import math
from typing import Dict, Hashable, List, Sequence, Tuple

Ref = Tuple[str, int]  # (samples file, row index)

DEFAULT_BATCH = 96


def batch_size(distinct: int, batch: int, workers: int) -> int:
    """Batches of ``batch`` programs, smaller when there are too few to keep every worker busy (four batches per
    worker at least; ``workers`` 0: never smaller)."""
    if batch <= 1:
        return 1
    return max(1, min(batch, math.ceil(distinct / max(1, 4 * workers))))


class Plan:
    """``refs``: (sample ref, program key) pairs in input order; ``size``: distinct programs per batch."""

    def __init__(self, refs: Sequence[Tuple[Ref, Hashable]], size: int = DEFAULT_BATCH):
        self.key_of: Dict[Ref, Hashable] = {}
        self.scope_of_key: Dict[Hashable, int] = {}
        self.keys_of_scope: Dict[int, List[Hashable]] = {}
        self.first_ref: Dict[Hashable, Ref] = {}
        for ref, key in refs:
            self.key_of[ref] = key
            self.first_ref.setdefault(key, ref)
        size = max(1, size)
        for i, key in enumerate(self.first_ref):  # dicts keep first-occurrence order
            scope = i // size
            self.scope_of_key[key] = scope
            self.keys_of_scope.setdefault(scope, []).append(key)
        self.size = size

    def scope(self, ref: Ref) -> int:
        return self.scope_of_key[self.key_of[ref]]

    @property
    def distinct(self) -> int:
        return len(self.first_ref)

    @property
    def duplicates(self) -> int:
        return len(self.key_of) - len(self.first_ref)
