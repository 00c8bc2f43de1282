"""What "the same results as one uninterrupted run" means for a resumed or a merged run: every field equal but

* timing (``duration_s``, ``compile_s``, ``run_s``, ``compile_time_ms``, ``cpu_s``) and the run's own bookkeeping in the metrics
  (when, how long, how many this run graded, where the files are: the runs compared live in different directories);
* how the builds were arranged, which depends on what one run had left to build: a batch's programs are modules
  ``sNNNN`` of one crate, so a sample built in a batch by one run and alone by the other shows ``s0003::tests::x``
  instead of ``tests::x`` in libtest's output and ``s0003.rs`` instead of ``main.rs`` in paths, and libtest counts
  the batch's other tests as "N filtered out"; only a sample built
  alone has a ``binary_size_bytes``; ``reused``/``cached`` say whether a twin's verdict was reused;
* run-specific text: the worker's scratch dir and build number, a thread's id, libtest's own timing.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

ROW_AS_RUN = {"duration_s", "compile_s", "run_s", "compile_time_ms", "cpu_s", "binary_size_bytes", "reused", "cached"}
METRICS_AS_RUN = {"started", "ended", "wall_time_s", "samples_per_minute", "graded_this_run", "results_file", "samples_file",
                  "avg_compile_time_ms", "avg_binary_size_bytes", "binary_size_samples", "merged_from", "merged_at",
                  "per_problem_results_file"}
RUN_SPECIFIC = [(re.compile(r"heval-w\d+-[A-Za-z0-9_]+/b\d+/(main|s\d{4})\.rs"), "heval-w*/b*/*.rs"),
                (re.compile(r"heval-w\d+-[A-Za-z0-9_]+/b\d+"), "heval-w*/b*"),
                (re.compile(r"\bs\d{4}::"), ""),
                (re.compile(r"\d+ filtered out"), "* filtered out"),  # the other tests of the batch's binary
                (re.compile(r"thread '([^']*)' \(\d+\) panicked"), r"thread '\1' (*) panicked"),
                (re.compile(r"finished in \d+\.\d+s"), "finished in *s")]


def comparable_rows(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for r in rows:
        r = {k: v for k, v in r.items() if k not in ROW_AS_RUN}
        for k in ("stdout", "stderr", "result"):
            if isinstance(r.get(k), str):
                for pattern, repl in RUN_SPECIFIC:
                    r[k] = pattern.sub(repl, r[k])
        out.append(r)
    return out


def comparable_metrics(m: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in m.items() if k not in METRICS_AS_RUN}
