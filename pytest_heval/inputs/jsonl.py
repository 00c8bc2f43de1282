"""Reading JSON Lines (optionally gzip-compressed) with errors that name file and line."""

from __future__ import annotations

import gzip
import os
import zlib
from typing import Any, Iterator, Tuple

import orjson

from ..errors import InputError


def read_bytes(path: str) -> bytes:
    """The file's bytes, decompressed when it is gzip (by magic number, not by name)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(path, f"corrupt or truncated gzip data: {e}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data


def iter_jsonl(path: str, data: bytes | None = None) -> Iterator[Tuple[int, Any]]:
    """Yield (1-based line number, parsed value) for each non-blank line."""
    if data is None:
        data = read_bytes(path)
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        value = parse_line(path, lineno, raw)
        if value is not BLANK:
            yield lineno, value


BLANK = object()  # what parse_line gives for a line with nothing on it


def parse_line(path: str, lineno: int, raw: bytes) -> Any:
    """The JSON value on one line, or BLANK; InputError naming file and line when it does not parse."""
    raw = raw.strip()  # also drops a CR of CRLF files
    if not raw:
        return BLANK
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InputError(path, f"malformed JSON: {e}", line=lineno) from None


def is_jsonl_path(path: "os.PathLike[str] | str") -> bool:
    name = os.fspath(path)
    return name.endswith(".jsonl") or name.endswith(".jsonl.gz")
