"""The full paths of the ``#[test]`` functions a problem's test text defines (``tests::test_add``), found on real
tokens. A sample's run names exactly these (libtest ``--exact``, under the sample's module in a batch), so no
other test in the binary runs: not a sibling's, not one a completion defines or generates."""

from __future__ import annotations

import functools
from typing import List, Tuple

from ..lexer import tokens

_QUALIFIERS = frozenset({"pub", "const", "async", "unsafe", "extern", "default"})


@functools.lru_cache(maxsize=4096)
def test_paths(test: str) -> Tuple[str, ...]:
    """``mod``-qualified names of the ``#[test]`` fns in ``test``, in order (empty when there are none)."""
    toks = tokens(test)
    n = len(toks)
    mods: List[Tuple[str, int]] = []  # (module name, brace depth inside it)
    depth, pending, out = 0, False, []
    i = 0
    while i < n:
        t = toks[i]
        if t.kind == "punct" and t.text == "{":
            depth += 1
        elif t.kind == "punct" and t.text == "}":
            depth -= 1
            while mods and mods[-1][1] > depth:
                mods.pop()
        elif t.kind == "keyword" and t.text == "mod" and i + 2 < n and toks[i + 1].kind in ("ident", "raw_ident") \
                and toks[i + 2].is_punct("{"):
            mods.append((toks[i + 1].name, depth + 1))
        elif t.kind == "punct" and t.text == "#" and i + 3 < n and toks[i + 1].is_punct("[") \
                and toks[i + 2].kind == "ident" and toks[i + 2].text == "test" and toks[i + 3].is_punct("]"):
            pending = True
            i += 4
            continue
        elif t.kind == "keyword" and t.text == "fn" and i + 1 < n and toks[i + 1].kind in ("ident", "raw_ident"):
            if pending:
                out.append("::".join([m for m, _ in mods] + [toks[i + 1].name]))
            pending = False
        elif pending and t.kind == "punct" and t.text == ";":
            pending = False  # the attribute was on something that is not a fn
        i += 1
    return tuple(out)
