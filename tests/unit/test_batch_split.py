"""Splitting a batch whose build fails with errors that name no sample (a link error, say): halve it until the
culprit is alone, instead of building every program alone (issue 9 item 11). Pure logic: the runner client is a fake
that "compiles" by reading the batch root; the real build path is tested in tests/engine/test_batching.py."""

from __future__ import annotations

import os
import re

from pytest_heval.batch import Builder
from pytest_heval.inputs.problems import Problem
from pytest_heval.program import assemble
from pytest_heval.settings import Limits

ADD = Problem("A/0", "fn add(a: i32, b: i32) -> i32 {\n",
              "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() { assert_eq!(add(2, 3), 5); }\n}\n",
              "2021", "humaneval", "test")


class FakeToolchain:
    unsafe_attrs = True


class FakeClient:
    """Builds fail, with an error that names no file, whenever a poisoned program is among the sources."""

    def __init__(self, tmp_path):
        self.root, self.toolchain, self.builds, self._n = str(tmp_path), FakeToolchain(), [], 0

    def start(self):
        pass

    def new_dir(self):
        self._n += 1
        d = os.path.join(self.root, f"b{self._n}")
        os.mkdir(d)
        return d

    def seal(self, d):
        pass

    def compile(self, limits, src, out, style, edition, cwd, extra=(), full_stderr=False):
        text = open(src).read()
        members = re.findall(r'#\[path = "(s\d+)\.rs"\] mod', text)
        bodies = [open(os.path.join(cwd, m + ".rs")).read() for m in members] or [text]
        self.builds.append(len(bodies))
        if any("POISON" in b for b in bodies):
            return {"rc": 1, "stderr": "error: linking with `cc` failed: exit status: 1\n", "duration": 0.01}
        return {"rc": 0, "stderr": "", "duration": 0.01}


def test_a_failure_that_names_no_sample_is_found_by_halving(tmp_path):
    programs = [assemble(ADD, f"    a + b + {i} - {i}\n}}\n") for i in range(96)]
    programs[61] = assemble(ADD, "    a + b // POISON\n}\n")
    client = FakeClient(tmp_path)
    built = Builder(client, Limits()).build(programs)
    assert built[programs[61].key].verdict["error_type"] == "compile_error"
    assert all(built[p.key].ok for i, p in enumerate(programs) if i != 61)
    # 1 + 2 per halving level (~7) + the culprit alone, against 96 standalone builds without halving
    assert len(client.builds) <= 20, client.builds
    assert sum(n > 1 for n in client.builds) <= 14
