"""The README's main job on the bundled samples/: every sample gets the outcome its `expect` field names."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.helpers import REPO, read_jsonl


def test_bundled_samples_cover_every_outcome(tmp_path):
    for name in ("samples.jsonl", "samples-main.jsonl", "problems.jsonl", "problems-main.json"):
        shutil.copy(REPO / "samples" / name, tmp_path / name)
    r = subprocess.run([sys.executable, "-m", "pytest", "--heval", "samples.jsonl", "samples-main.jsonl",
                        "--heval-problems", "problems.jsonl", "--heval-problems", "problems-main.json",
                        "--heval-timeout", "2", "--heval-compile-timeout", "5", "--heval-k", "1,5", "-n", "2",
                        "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    seen = set()
    for name in ("samples.jsonl", "samples-main.jsonl"):
        for row in read_jsonl(tmp_path / f"{name}_results.jsonl"):
            got = row["error_type"] or "passed"
            assert got == row["expect"], (row["task_id"], row["sample_index"], row["result"])
            seen.add(got)
        m = json.loads((tmp_path / f"{name}_metrics.json").read_text())
        assert isinstance(m["pass@1"], float) and isinstance(m["pass@5"], float)
    assert seen >= {"passed", "compile_error", "compile_timeout", "test_failure", "runtime_error", "timeout",
                    "memory_limit", "output_limit", "tampering"}
    assert "pytest-heval summary" in r.stdout
