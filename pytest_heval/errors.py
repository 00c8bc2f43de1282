"""Error types shared by the engine. No pytest imports here."""

from __future__ import annotations

from typing import Optional


class HevalError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(HevalError):
    """Bad input: names the file, the line and the field at fault."""

    def __init__(self, path: str, message: str, line: Optional[int] = None, field: Optional[str] = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class SetupError(HevalError):
    """The machine cannot run an evaluation (no rustc, no sandbox...): a usage problem, not a model failure."""
