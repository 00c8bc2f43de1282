"""The engine stands without pytest: importing it (and grading through it) loads no pytest module; the public
API is what ``pytest_heval.__all__`` says."""

from __future__ import annotations

import subprocess
import sys

import pytest_heval


def test_importing_the_engine_loads_no_pytest_module():
    code = ("import sys, pytest_heval, pytest_heval.grader\n"
            "import pytest_heval.batch, pytest_heval.sandbox, pytest_heval.sandbox.runner, pytest_heval.results\n"
            "import pytest_heval.report.terminal, pytest_heval.report.junit, pytest_heval.cache\n"
            "import pytest_heval.lint, pytest_heval.quality\n"
            "bad = sorted(m for m in sys.modules if m == 'pytest' or m.startswith(('_pytest', 'pytest.', 'xdist',"
            " 'pytest_timeout')))\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"the engine imported {r.stdout.strip()}"


def test_the_plugin_does_import_pytest():
    """The check above can fail: the same probe sees pytest once the plugin is imported."""
    code = "import sys, pytest_heval.plugin; print('pytest' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "True", r.stderr


def test_public_api():
    for name in pytest_heval.__all__:
        assert hasattr(pytest_heval, name), name
    assert {"Grader", "Settings", "Inputs", "sample_programs"} <= set(pytest_heval.__all__)
