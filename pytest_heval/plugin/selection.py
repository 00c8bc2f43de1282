"""Deselecting the samples a run does not grade: other shards' (``--heval-shard``) and those an earlier run
finished (``--heval-resume``).

The controller decides, once, from the samples and the results file (:meth:`Controller.pytest_sessionstart`); it
hands its choice to each xdist worker in ``workerinput`` (a remote worker cannot read the controller's results
file), so every process that collects deselects the very same items, and xdist sees the same collection on all.
"""

from __future__ import annotations

import os
from typing import List, Optional

import pytest

from ..shards import Bits
from .items import SampleItem

# per samples file (by position on the command line): the sample indexes not to grade (None: grade all)
SKIP = pytest.StashKey[List[Optional[Bits]]]()


def skip_to_wire(skip: List[Optional[Bits]]) -> list:
    return [None if b is None else list(b.to_wire()) for b in skip]


def skip_from_wire(wire: list) -> List[Optional[Bits]]:
    return [None if w is None else Bits.from_wire(w) for w in wire]


class Selection:
    """Registered in every process that collects (each xdist worker, or the only process)."""

    def __init__(self, samples_paths: List[str], config: pytest.Config):
        self.position = {p: i for i, p in enumerate(samples_paths)}
        wire = getattr(config, "workerinput", {}).get("heval_skip")
        if wire is not None:
            config.stash[SKIP] = skip_from_wire(wire)

    @pytest.hookimpl  # before the controller's and worker's trylast hooks, which count what is left
    def pytest_collection_modifyitems(self, session, config, items):
        skip = config.stash.get(SKIP, None)
        if not skip or all(b is None for b in skip):
            return
        keep, drop = [], []
        for item in items:
            if isinstance(item, SampleItem):
                pos = self.position.get(os.path.abspath(str(item.path)))
                bits = skip[pos] if pos is not None else None
                if bits is not None and item.index in bits:
                    drop.append(item)
                    continue
            keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
