"""Writing a file so that readers only ever see the old or the new content, never a half-written one."""

from __future__ import annotations

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
