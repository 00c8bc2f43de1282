"""What pytest keeps of a sample's reports, and its data in them.

pytest keeps every report of a session to its end: the terminal reporter files each one under its outcome (setup and
teardown reports too), in the controller and in every xdist worker, for the final counts and summaries. At a million
samples that is three reports of ~1.5 KB each per sample, per process. A sample's row is in the results file, so:

* in an xdist worker, whose terminal output nobody reads, a sample's reports are dropped once sent;
* in the controller (or the only process), a passed setup or teardown report is dropped (pytest files it under no
  outcome), and any other (a call report, a crashed sample's) is replaced by :data:`COUNTED` in its outcome's list, which is what the counts need,
  unless an option will print reports: ``-v``, ``--tb``, ``-r`` with f, p or a. What stays of a report is trimmed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import orjson
import pytest


class _Counted:
    """Stands for a sample's call report in the terminal reporter's lists: counted, never printed."""

    count_towards_summary = True


COUNTED = _Counted()
_NO_KEYWORDS: Dict[str, Any] = {}
_NO_PROPERTIES: List[Any] = []


def heval_data(report) -> Optional[Dict[str, Any]]:
    """A sample's data in its call report (``report.heval``: the worker's JSON string, parsed once, here)."""
    h = getattr(report, "heval", None)
    if isinstance(h, str):
        h = report.heval = orjson.loads(h)
    return h


def keeps_reports(config: pytest.Config) -> bool:
    """Whether an option of this run prints reports at the end (then the controller keeps them whole)."""
    opt = config.option
    chars = getattr(opt, "reportchars", "") or ""
    return (getattr(opt, "tbstyle", "no") != "no" or config.get_verbosity() > 0
            or any(c in chars for c in "fFpPaA"))


def forget(config: pytest.Config, report, count: bool) -> None:
    """Drop ``report`` from the terminal reporter's lists (``count``: leave :data:`COUNTED` in an outcome's list),
    and trim what the caller keeps of it. Called last for the report (a trylast ``pytest_runtest_logreport``)."""
    report.keywords = _NO_KEYWORDS
    report.user_properties = _NO_PROPERTIES
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    for category, reports in tr.stats.items():
        if reports and reports[-1] is report:
            if count and category:
                reports[-1] = COUNTED
            else:
                reports.pop()
            return
