"""Files: writing atomically (readers see the old or the new content, never half of it), hashing a file, and the
user cache directory pytest-heval keeps things in."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Iterable, Optional, Union


def atomic_write(path: str, data: Union[bytes, Iterable[bytes]], mode: Optional[int] = None) -> None:
    """Write ``data`` (bytes, or chunks of bytes) to a temporary file beside ``path``, then rename it over ``path``.

    Raises OSError (a full disk, a read-only directory...); the temporary file is removed then.
    """
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray)):
                f.write(data)
            else:
                for chunk in data:
                    f.write(chunk)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def file_sha256(path: "str | os.PathLike[str]") -> str:
    """The sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir(*parts: str) -> str:
    """``$XDG_CACHE_HOME/pytest-heval/<parts>`` (``~/.cache`` by default)."""
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pytest-heval", *parts)
