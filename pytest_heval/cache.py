"""The verdict cache (``--heval-cache DIR``): verdicts kept across runs, so re-grading an unchanged file builds nothing."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Optional

import orjson

from .fsutil import atomic_write


class VerdictCache:
    """Verdicts kept across runs (``--heval-cache DIR``): one small JSON file per program, keyed by the
    program's hash and everything else that decides its verdict (rustc, flags, sandbox, limits)."""

    def __init__(self, directory: str, salt: str):
        self.directory = directory
        self.salt = salt
        os.makedirs(directory, exist_ok=True)

    def _path(self, key: str) -> str:
        h = hashlib.sha256((self.salt + "\0" + key).encode()).hexdigest()
        return os.path.join(self.directory, h[:2], h + ".json")

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        try:
            with open(self._path(key), "rb") as f:
                return orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError):
            return None

    def has(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def put(self, key: str, verdict: Dict[str, Any]) -> None:
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, orjson.dumps(verdict))
        except OSError:
            pass  # a cache that cannot be written only costs time
