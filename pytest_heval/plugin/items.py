"""pytest collection: a samples file is a File, each of its rows an Item. Items get what they need through
``from_parent`` (the samples to yield, a ``judge`` callable, the timeout backstop); they know nothing else."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import pytest

from ..report.terminal import failure_text

Judge = Callable[[str, int], Dict[str, Any]]


class SampleFailure(Exception):
    def __init__(self, verdict: Dict[str, Any]):
        super().__init__(verdict.get("result"))
        self.verdict = verdict


class SamplesFile(pytest.File):
    def __init__(self, *, samples: Sequence[Tuple[str, int, str]], judge: Judge, backstop: Optional[float], **kw):
        super().__init__(**kw)
        self.samples = samples  # (item name, row index, task_id)
        self.judge = judge
        self.backstop = backstop

    def collect(self) -> Iterator["SampleItem"]:
        for name, index, task_id in self.samples:
            yield SampleItem.from_parent(self, name=name, index=index, task_id=task_id, judge=self.judge,
                                         backstop=self.backstop)


class SampleItem(pytest.Item):
    def __init__(self, *, index: int, task_id: str, judge: Judge, backstop: Optional[float], **kw: Any):
        super().__init__(**kw)
        self.index = index
        self.task_id = task_id
        self.judge = judge
        self.verdict: Optional[Dict[str, Any]] = None
        self.user_properties.append(("task_id", task_id))
        if backstop is not None:
            self.add_marker(pytest.mark.timeout(backstop, method="signal"))

    def runtest(self) -> None:
        v = self.judge(str(self.path), self.index)
        self.verdict = v
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
