"""pytest collection: a samples file is a File, each of its rows an Item. The File gets what it needs through
``from_parent`` (the task ids of its rows, a ``judge`` callable, the timeout backstop); an Item knows its row index
and asks its File for the rest."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterator, Optional, Sequence

import pytest

from ..report.terminal import failure_text

Judge = Callable[[str, int], Dict[str, Any]]


class SampleFailure(Exception):
    def __init__(self, verdict: Dict[str, Any]):
        super().__init__(verdict.get("result"))
        self.verdict = verdict


class SamplesFile(pytest.File):
    """One samples file. Per sample it holds only what pytest itself needs of an item (a name, a node id): the
    pytest-timeout backstop is a marker of the file, which every item inherits, not one marker per item."""

    def __init__(self, *, task_ids: Sequence[str], judge: Judge, backstop: Optional[float], **kw):
        super().__init__(**kw)
        self.task_ids = task_ids  # of every row, in order
        self.heval_path = os.path.abspath(str(self.path))
        self.judge = judge
        if backstop is not None:
            self.add_marker(pytest.mark.timeout(backstop, method="signal"))

    def collect(self) -> Iterator["SampleItem"]:
        for index, task_id in enumerate(self.task_ids):
            yield SampleItem.from_parent(self, name=f"{task_id}#{index}", index=index)


class SampleItem(pytest.Item):
    heval_sample = True  # the controller counts these among the collected items
    verdict: Optional[Dict[str, Any]] = None

    def __init__(self, *, index: int, **kw: Any):
        super().__init__(**kw)
        self.index = index

    @property
    def task_id(self) -> str:
        return self.parent.task_ids[self.index]

    def runtest(self) -> None:
        v = self.parent.judge(self.parent.heval_path, self.index)
        self.verdict = v
        self.user_properties.append(("task_id", self.task_id))
        self.user_properties.append(("error_type", "" if v["error_type"] is None else v["error_type"]))
        self.user_properties.append(("compile_ok", str(bool(v["compile_ok"])).lower()))
        if not v["passed"]:
            raise SampleFailure(v)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, SampleFailure):
            return failure_text(excinfo.value.verdict)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.name}"
