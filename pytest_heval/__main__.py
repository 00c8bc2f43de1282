"""``python -m pytest_heval``: see :mod:`pytest_heval.cli`."""

import sys

from .cli import main

sys.exit(main())
