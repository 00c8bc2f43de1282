"""pytest-heval: grade LLM-written Rust code, with pytest or without it.

The engine is usable on its own (nothing in it imports pytest)::

    >>> from pytest_heval import Grader, Settings, Inputs, sample_programs
    >>> inputs = Inputs(["problems.jsonl"])
    >>> refs = [("samples.jsonl", s.index) for s in inputs.load("samples.jsonl").samples]
    >>> with Grader(Settings(sandbox="bwrap")) as g:
    ...     for ref, verdict in g.grade(refs, sample_programs(inputs, g.settings, g.toolchain)):
    ...         print(ref, verdict["passed"], verdict["error_type"])

The pytest plugin (:mod:`pytest_heval.plugin`) is one client of it.
"""

__version__ = "0.1.0"

from .errors import HevalError, InputError, SetupError  # noqa: E402
from .grader import Grader, make_plan, plan_samples, sample_programs  # noqa: E402
from .inputs import Inputs  # noqa: E402
from .settings import Limits, Settings  # noqa: E402
from .verdict import ERROR_TYPES, Verdict  # noqa: E402

__all__ = ["ERROR_TYPES", "Grader", "HevalError", "InputError", "Inputs", "Limits", "SetupError", "Settings",
           "Verdict", "__version__", "make_plan", "plan_samples", "sample_programs"]
