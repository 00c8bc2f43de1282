"""Hardening the problem's test text, and reading it: which ``#[test]`` functions it defines.

The problem's own test text is rewritten so its macros and prelude names are called by absolute path
(``assert_eq!`` -> ``::std::assert_eq!``, ``String`` -> ``::std::string::String``): a completion that defines
``macro_rules! assert_eq`` or ``struct String`` cannot neuter the tests. Literals and comments are not rewritten.
"""

from __future__ import annotations

import functools
import re
from typing import Tuple

_ASSERT_MACROS = re.compile(
    r"(?<![\w:$!])\b(assert|assert_eq|assert_ne|debug_assert|debug_assert_eq|debug_assert_ne|"
    r"panic|unreachable|todo|unimplemented|vec|format|matches|write|writeln|print|println|eprint|eprintln|"
    r"concat|stringify|format_args)(\s*)!"
)


def _code_spans(text: str):
    """Yield (is_code, chunk) pieces of Rust text: string/char literals and comments are not code."""
    i, n, start = 0, len(text), 0
    raw = re.compile(r'(?<![\w])b?r(#*)"')
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
        elif c in "rb" and raw.match(text, i):
            m = raw.match(text, i)
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
        elif c == "'" and re.match(r"'(?:[^'\\\n]|\\[^\n]{1,10}?)'", text[i:i + 14]):
            j = i + re.match(r"'(?:[^'\\\n]|\\[^\n]{1,10}?)'", text[i:i + 14]).end()
        else:
            i += 1
            continue
        if start < i:
            yield True, text[start:i]
        yield False, text[i:j]
        i = start = j
    if start < n:
        yield True, text[start:]


# prelude names the test text relies on: a completion's own `struct String` (or `enum Option`...) would
# otherwise be what the tests compare against, through `use super::*`
PRELUDE_PATHS = {
    "String": "::std::string::String", "Vec": "::std::vec::Vec", "Box": "::std::boxed::Box",
    "Option": "::std::option::Option", "Result": "::std::result::Result",
    "Some": "::std::option::Option::Some", "None": "::std::option::Option::None",
    "Ok": "::std::result::Result::Ok", "Err": "::std::result::Result::Err",
}
_PRELUDE = re.compile(r"(?<![\w:.$'])\b(" + "|".join(PRELUDE_PATHS) + r")\b(?!\s*!)(?!\s*:[^:])")


def _harden_code(chunk: str) -> str:
    chunk = _ASSERT_MACROS.sub(lambda m: f"::std::{m.group(1)}{m.group(2)}!", chunk)
    return _PRELUDE.sub(lambda m: PRELUDE_PATHS[m.group(1)], chunk)


@functools.lru_cache(maxsize=4096)
def harden_test(test: str) -> str:
    """Call the test's macros and prelude names by absolute path so a completion cannot shadow them
    (``assert_eq!`` -> ``::std::assert_eq!``, ``String`` -> ``::std::string::String``).

    Only code is rewritten: string literals, character literals and comments are left as they are.
    """
    return "".join(_harden_code(chunk) if is_code else chunk for is_code, chunk in _code_spans(test))


_FN_AFTER = re.compile(r"(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


@functools.lru_cache(maxsize=4096)
def expected_tests(test: str) -> Tuple[str, ...]:
    """Names of the ``#[test]`` functions the problem's test text defines (comments and attributes may sit between)."""
    code = "".join(chunk if is_code else (" " * len(chunk) if not chunk.startswith('"') and "r" not in chunk[:2]
                                          else '"' + " " * (len(chunk) - 2) + '"')
                   for is_code, chunk in _code_spans(test))
    names = []
    for m in re.finditer(r"#\s*\[\s*test\s*\]", code):
        i = m.end()
        while True:
            while i < len(code) and code[i].isspace():
                i += 1
            if code.startswith("#", i):  # another attribute: skip its balanced brackets
                j = code.find("[", i)
                depth = 0
                while j < len(code):
                    depth += code[j] == "["
                    depth -= code[j] == "]"
                    j += 1
                    if depth == 0:
                        break
                i = j
                continue
            break
        fm = _FN_AFTER.match(code, i)
        if fm:
            names.append(fm.group(1))
    return tuple(names)
