"""``python -m pytest_heval <command>``: the engine's tools without pytest.

Each command lives in its own module with ``add_arguments(parser)`` and ``run(args) -> exit status``; adding one is
one line in :data:`COMMANDS`. Exit status 2 is a usage error (bad option, unreadable or malformed file).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .errors import HevalError
from .report import command as report_command

COMMANDS = {
    "report": report_command,  # tables, a paired comparison and an HTML page from results files
}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_heval", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except HevalError as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return 2
