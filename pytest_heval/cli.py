"""``python -m pytest_heval COMMAND ...``: the tool's commands outside pytest.

Each command lives in its own module, which exposes ``add_command(subparsers)``: it adds its
parser and sets ``run=function(args) -> exit status``. A new command is one line in COMMANDS.
Exit status: 0 done, 1 failed, 2 bad usage (argparse's own errors, unknown names).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from . import __version__
from .errors import HevalError

COMMANDS = (
    "pytest_heval.datasets",  # list, download and locate the named problem sets
    "pytest_heval.report.command",  # tables, a paired comparison and an HTML page from results files
    "pytest_heval.validate",  # a problem set's broken problems (canonical must pass, buggy must fail)
    "pytest_heval.merge",  # the results of --heval-shard runs joined into one
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_heval",
                                     description="pytest-heval commands (grading itself runs under pytest --heval).")
    parser.add_argument("--version", action="version", version=f"pytest-heval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        importlib.import_module(module).add_command(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on bad usage
    try:
        return int(args.run(args))
    except HevalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if getattr(e, "usage", False) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
