"""pytest collection: a samples file is a File, each of its rows an Item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional

import pytest

from .report import failure_text

if TYPE_CHECKING:  # pragma: no cover
    from .plugin import HevalSession


class SampleFailure(Exception):
    def __init__(self, verdict: Dict[str, Any]):
        super().__init__(verdict.get("result"))
        self.verdict = verdict


class SamplesFile(pytest.File):
    heval: "HevalSession"

    def collect(self) -> Iterator["SampleItem"]:
        sf = self.heval.inputs.load(str(self.path))
        for s in sf.samples:
            yield SampleItem.from_parent(self, name=s.name, index=s.index, task_id=s.task_id)


class SampleItem(pytest.Item):
    def __init__(self, *, index: int, task_id: str, **kw: Any):
        super().__init__(**kw)
        self.index = index
        self.task_id = task_id
        self.verdict: Optional[Dict[str, Any]] = None
        self.user_properties.append(("task_id", task_id))
        backstop = self.heval.backstop_timeout()
        if backstop is not None:
            self.add_marker(pytest.mark.timeout(backstop, method="signal"))

    @property
    def heval(self) -> "HevalSession":
        return self.parent.heval  # type: ignore[attr-defined]

    def runtest(self) -> None:
        v = self.heval.judge(str(self.path), self.index)
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
