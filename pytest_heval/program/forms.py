"""Completion forms: what a model's answer is, and the (head, completion) that grades it as its author meant.

The engine builds ``head + completion + sep + test``. That is right for a *continuation* (the answer goes on
from the prompt's open signature) and wrong for what chat models write: the whole function again (the
signature would be there twice: "unclosed delimiter"), a markdown fence with prose around it, their own
``fn main`` or ``#[cfg(test)] mod tests`` (which clash with the problem's), or a completion that runs on past the
function. :func:`form_completion` recognises those on Rust structure only -- brackets balanced outside strings,
comments and character literals, items split at depth 0 -- never on wording, and says what it did as a short
form name (``continuation``, ``full_function``, ``fenced+full_function+main_removed``...; ``raw`` in raw mode).

Form parts, joined with ``+`` in this order:

* ``fenced``: the answer has markdown fences; the code used is the first Rust (or untagged) block that defines
  the prompt's function at top level, else the first Rust (or untagged) block (see :func:`fenced_code`; an
  answer that began inside the prompt's code block and closes it with a fence counts its text before that fence).
* ``continuation`` or ``full_function`` (the answer defines the prompt's function itself at its top level: the
  head's trailing open signature is dropped, the rest of the head -- comments, ``use`` lines, helpers -- kept).
* ``cut``: the test text closes the prompt's function (MultiPL-E: its tests start with ``}``, the format's stop
  token is ``\\n}``) and the continuation went past that function: it is cut at the brace that closes the function.
* ``main_removed``: the answer's own ``fn main`` (the problem's test defines ``main``).
* ``tests_removed``: the answer's ``#[test]`` functions and ``#[cfg(test)]`` items (the problem's test defines the tests).
* ``duplicates_removed``: answer items (or ``use`` names) the head or the test already defines.

No pytest import: this is engine code.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Dict, List, Optional, Sequence, Set, Tuple


MODES = ("auto", "raw")


@dataclasses.dataclass(frozen=True)
class Formed:
    form: str  # "continuation", "fenced+full_function+main_removed", "raw", ...
    head: str  # what the completion is appended to (the problem's head, or it without its open signature)
    completion: str


# ---------------------------------------------------------------------------------------------------------------
# scanning


_START = re.compile(r"""//|/\*|(?<!\w)b?r#*"|"|'""")
_CHAR = re.compile(r"'(?:[^'\\\n]|\\[^\n]{1,10}?)'")
_STRING_END = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_BLOCK = re.compile(r"/\*|\*/")
_NOT_NEWLINE = re.compile(r"[^\n]")


@functools.lru_cache(maxsize=256)  # one sample's code is read several times (which block, which form, its items)
def mask(text: str) -> str:
    """``text`` with comments blanked and literals' insides blanked (same length, newlines kept), so that every
    bracket, ``;`` and keyword left in it is code. (The same reading of Rust as the test-text hardening's
    ``_code_spans``, by regular expressions: it runs on every sample.)"""
    out, pos, n = [], 0, len(text)
    while True:
        m = _START.search(text, pos)
        if m is None:
            out.append(text[pos:])
            return "".join(out)
        i, tok = m.start(), m.group()
        out.append(text[pos:i])
        if tok == "'":
            c = _CHAR.match(text, i)
            if c is None:  # a lifetime or a label: code
                out.append("'")
                pos = i + 1
                continue
            j = c.end()
        elif tok == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif tok == "/*":
            depth, j = 0, i
            for b in _BLOCK.finditer(text, i):
                depth += 1 if b.group() == "/*" else -1
                j = b.end()
                if depth == 0:
                    break
            else:
                j = n
        elif tok == '"':
            e = _STRING_END.match(text, i + 1)
            j = n if e is None else e.end()
        else:  # a raw string: ends at the quote followed by as many hashes
            close = '"' + "#" * tok.count("#")
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
        chunk = text[i:j]
        if tok in ("//", "/*"):
            out.append(_NOT_NEWLINE.sub(" ", chunk))
        else:  # keep the delimiters' places, blank the inside
            out.append(chunk[0] + _NOT_NEWLINE.sub(" ", chunk[1:-1]) + chunk[-1] if len(chunk) > 1 else " ")
        pos = j


_OPEN, _CLOSE = "([{", ")]}"


_BRACKET = re.compile(r"[()\[\]{}]")
_PUNCT = re.compile(r"[()\[\]{};]")
_WS = re.compile(r"\s*")


def net_depth(m: str) -> int:
    return sum(m.count(c) for c in _OPEN) - sum(m.count(c) for c in _CLOSE)


def first_below(m: str, start_depth: int) -> Optional[int]:
    """Index of the first closing bracket that takes the depth (starting at ``start_depth``) below it."""
    d = start_depth
    for x in _BRACKET.finditer(m):
        if x.group() in _OPEN:
            d += 1
        else:
            d -= 1
            if d < start_depth:
                return x.start()
    return None


@dataclasses.dataclass
class Item:
    start: int  # with its leading whitespace and comments
    code: int  # first attribute or keyword
    end: int
    kind: str  # fn, use, mod, struct, ..., "other"
    name: Optional[str]
    attrs: Tuple[str, ...]
    closed: bool  # False: the text ended inside it (an open signature)

    @property
    def is_test(self) -> bool:
        return any(re.fullmatch(r"#\s*\[\s*(test|cfg\s*\(\s*test\s*\))\s*\]", a) for a in self.attrs)


_VIS = r"(?:pub\s*(?:\([^)]*\))?\s*)?"
_FN = re.compile(_VIS + r"(?:(?:const|async|unsafe|default)\s+|extern\s*(?:\"[^\"]*\"\s*)?)*fn\s+(r#)?(\w+)")
_NAMED = re.compile(_VIS + r"(?:unsafe\s+)?(mod|struct|enum|union|trait|type|const|static(?:\s+mut)?)\s+(\w+)")
_USE = re.compile(_VIS + r"use\b")
_MACRO = re.compile(r"macro_rules\s*!\s*(\w+)")
_EXTERN_CRATE = re.compile(_VIS + r"extern\s+crate\b")


def items(text: str, m: Optional[str] = None) -> List[Item]:
    """Split Rust text that starts at depth 0 into its top-level items (attributes go with their item)."""
    m = mask(text) if m is None else m
    out: List[Item] = []
    i, n = 0, len(m)
    while i < n:
        start = i
        i = _WS.match(m, i).end()
        if i >= n:
            if out:  # trailing whitespace belongs to the last item
                out[-1].end = n
            break
        code = i
        attrs = []
        while m.startswith("#", i):
            j = i + 1
            while j < n and m[j].isspace():
                j += 1
            if j < n and m[j] == "!":
                j += 1
                while j < n and m[j].isspace():
                    j += 1
            if j >= n or m[j] != "[":
                break
            k = _match_close(m, j)
            attrs.append(m[i:k])
            i = _WS.match(m, k).end()
        kind, name, ends = "other", None, ";}"
        fm = _FN.match(m, i)
        if fm:
            kind, name = "fn", fm.group(2)
        elif _USE.match(m, i) or _EXTERN_CRATE.match(m, i):
            kind, ends = "use" if _USE.match(m, i) else "extern_crate", ";"
        elif _MACRO.match(m, i):
            kind, name = "macro", _MACRO.match(m, i).group(1)
        elif _NAMED.match(m, i):
            nm = _NAMED.match(m, i)
            kind, name = nm.group(1).split()[0], nm.group(2)
            if kind in ("type", "const", "static"):
                ends = ";"
        elif re.match(r"impl\b|unsafe\s+impl\b|extern\b", m[i:i + 12]):
            kind = "impl"
        j, d, closed = n, 0, False
        for x in _PUNCT.finditer(m, i):
            c = x.group()
            if c in _OPEN:
                d += 1
            elif c == ";":
                if d == 0:
                    j, closed = x.end(), True
                    break
            else:
                d -= 1
                if d < 0:  # the text closes something it did not open: stop before it
                    j = x.start()
                    break
                if d == 0 and c == "}" and "}" in ends:
                    j, closed = x.end(), True
                    break
        if closed and m[j - 1] == "}":  # `const X: S = S { .. };`
            k = _WS.match(m, j).end()
            if k < n and m[k] == ";":
                j = k + 1
        if j == i:  # a stray closing bracket: one character of its own
            j = i + 1
        out.append(Item(start, code, j, kind, name, tuple(attrs), closed))
        i = j
    return out


def _match_close(m: str, j: int) -> int:
    d = 0
    for x in _BRACKET.finditer(m, j):
        d += 1 if x.group() in _OPEN else -1
        if d == 0:
            return x.end()
    return len(m)


# ---------------------------------------------------------------------------------------------------------------
# use trees


def use_leaves(m: str) -> Optional[List[Tuple[str, str]]]:
    """(bound name, path) for each name a masked ``use`` item brings in; None when it cannot be read."""
    s = re.sub(r"^" + _VIS + r"use\s*", "", m.strip()).rstrip(";").strip()
    s = re.sub(r"\s+as\s+", " as ", s)
    s = re.sub(r"\s*(::|,|\{|\})\s*", r"\1", s)
    leaves: List[Tuple[str, str]] = []

    def walk(s: str, prefix: str) -> bool:
        brace = s.find("{")
        if brace < 0:
            path, _, alias = s.partition(" as ")
            if not re.fullmatch(r"[\w:*]+", path) or (alias and not re.fullmatch(r"\w+", alias)):
                return False
            full = (prefix + path).lstrip(":")
            if full.endswith("::self"):
                full = full[:-6]
            leaves.append((alias or full.rsplit("::", 1)[-1], full))
            return True
        if not s.endswith("}"):
            return False
        parts, d, cur = [], 0, ""
        for ch in s[brace + 1:-1]:
            if ch == "," and d == 0:
                parts.append(cur)
                cur = ""
                continue
            d += (ch == "{") - (ch == "}")
            cur += ch
        parts.append(cur)
        return all(walk(p, prefix + s[:brace]) for p in parts if p)

    return leaves if walk(s, "") else None


# ---------------------------------------------------------------------------------------------------------------
# markdown fences

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^\n]*)$", re.M)
_RUST_TAGS = ("", "rust", "rs")


def fenced_blocks(text: str) -> List[Tuple[str, str]]:
    """(info tag, code) of each fenced block, in order; a block left open runs to the end of the text."""
    blocks = []
    pos = 0
    while True:
        op = _FENCE.search(text, pos)
        if op is None:
            return blocks
        fence, info = op.group(1), op.group(2).strip()
        if fence[0] == "`" and "`" in info:  # an inline code span, not a fence
            pos = op.end()
            continue
        body_start = op.end() + 1
        close = re.compile(r"^[ \t]{0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$", re.M)
        cl = close.search(text, body_start) if body_start <= len(text) else None
        tag = re.split(r"[\s,{]", info, 1)[0].lower() if info else ""
        if cl is None:
            blocks.append((tag, text[body_start:]))
            return blocks
        blocks.append((tag, text[body_start:cl.start()]))
        pos = cl.end()


def fenced_code(text: str, name: Optional[str]) -> Optional[str]:
    """The code of a markdown answer (None: no fence, or no Rust in one): the first Rust or untagged block that
    defines ``fn name`` at its top level, else the first Rust or untagged block.

    An odd number of fences whose first is bare and comes after text means the answer began inside a code block
    (the prompt's) and that fence closes it: the text before it is then the first candidate."""
    fences = [f for f in _FENCE.finditer(text) if not (f.group(1)[0] == "`" and "`" in f.group(2))]
    if not fences:
        return None
    candidates = [b for tag, b in fenced_blocks(text) if tag in _RUST_TAGS and b.strip()]
    first = fences[0]
    if text[:first.start()].strip() and not first.group(2).strip() and len(fences) % 2:
        candidates.insert(0, text[:first.start()])
    if not candidates:
        return None
    return next((c for c in candidates if _defines_fn(c, name)), candidates[0])


def _defines_fn(code: str, name: Optional[str]) -> bool:
    if not name or not re.search(r"\bfn\s+" + re.escape(name) + r"\b", code):  # the common case, cheaply
        return False
    return _top_fn(code, mask(code), name) is not None


def _top_fn(code: str, m: str, name: str) -> Optional[int]:
    """Index (in items(code)) of the first closed top-level ``fn name``; None unless the code reads as items."""
    below = first_below(m, 0)
    its = items(code[:below] if below is not None else code, m[:below] if below is not None else m)
    for k, it in enumerate(its):
        if it.kind == "fn" and it.name == name and it.closed:
            return k
    return None


# ---------------------------------------------------------------------------------------------------------------
# the problem's side


@dataclasses.dataclass(frozen=True)
class _Shape:
    head_depth: int
    test_depth: int
    open_fn: Optional[str]  # name of the head's trailing open function
    sig_at: int  # where that function's signature starts in the head (its attributes included)
    names: frozenset  # item names the head (without the open fn) and the test define at top level
    uses: frozenset  # (bound name, path) the head imports
    test_main: bool  # the test defines fn main
    test_closes: bool  # the test text starts by closing the head's function (MultiPL-E)


@functools.lru_cache(maxsize=1024)
def _shape(head: str, test: str) -> _Shape:
    hm, tm = mask(head), mask(test)
    hd, td = net_depth(hm), net_depth(tm)
    its = items(head, hm)
    open_fn, sig_at = None, len(head)
    if hd == 1 and its and not its[-1].closed and its[-1].kind == "fn":
        open_fn, sig_at = its[-1].name, its[-1].code
    names: Set[str] = set()
    uses: Set[Tuple[str, str]] = set()
    for it in its:
        if it.closed and it.name:
            names.add(it.name)
        if it.kind == "use":
            uses.update(use_leaves(hm[it.code:it.end]) or ())
    cut = first_below(tm, 0)
    test_closes = cut is not None and not tm[:cut].strip()
    t_top = test[cut + 1:] if test_closes else test
    test_main = False
    for it in items(t_top):
        if it.closed and it.name:
            names.add(it.name)
            test_main |= it.kind == "fn" and it.name == "main"
    return _Shape(hd, td, open_fn, sig_at, frozenset(names), frozenset(uses), test_main, test_closes)


# ---------------------------------------------------------------------------------------------------------------
# the answer's side


def _clean_items(code: str, shape: _Shape, style: str, target: Optional[str],
                 parts: List[str]) -> List[Tuple[Item, str]]:
    """The top-level items of ``code`` minus what the problem brings itself, each with its (possibly rewritten)
    text; what was removed is added to ``parts``."""
    m = mask(code)
    kept: List[Tuple[Item, str]] = []
    seen_target = False
    for it in items(code, m):
        text = code[it.start:it.end]
        if it.kind == "fn" and it.name == "main" and shape.test_main:
            _add(parts, "main_removed")
            continue
        if style == "libtest" and (it.is_test or (it.kind == "mod" and it.name in shape.names
                                                  and re.search(r"#\s*\[\s*test\s*\]", m[it.start:it.end]))):
            _add(parts, "tests_removed")
            continue
        if it.kind == "fn" and it.name == target and it.closed:
            if seen_target:
                _add(parts, "duplicates_removed")
                continue
            seen_target = True
        elif it.name and it.closed and it.name in shape.names and it.kind != "impl":
            _add(parts, "duplicates_removed")
            continue
        if it.kind == "use" and shape.uses:
            leaves = use_leaves(m[it.code:it.end])
            if leaves:
                new = [lf for lf in leaves if lf not in shape.uses]
                if len(new) < len(leaves):
                    _add(parts, "duplicates_removed")
                    if not new:
                        continue
                    vis = re.match(_VIS, m[it.code:it.end]).group(0)
                    text = code[it.start:it.code] + "".join(
                        f"{vis}use {path}{'' if path.rsplit('::', 1)[-1] == bound else ' as ' + bound};\n"
                        for bound, path in new)
        kept.append((it, text))
    return kept


def _add(parts: List[str], p: str) -> None:
    if p not in parts:
        parts.append(p)


def _name(lead: List[str], base: str, parts: List[str]) -> str:
    order = ("main_removed", "tests_removed", "duplicates_removed", "cut")
    return "+".join(lead + [base] + sorted(parts, key=order.index))


def _full_function(head: str, code: str, shape: _Shape, style: str, lead: List[str]) -> Optional[Formed]:
    parts: List[str] = []
    kept = _clean_items(code, shape, style, shape.open_fn, parts)
    head_rest = head[:shape.sig_at]
    need = -(net_depth(mask(head_rest)) + shape.test_depth)  # what the completion must leave open
    if need == 0:
        completion = "".join(t for _, t in kept)
    elif need == 1:  # the test closes the function: the target goes last, its closing brace left to the test
        target = next(k for k, (it, _) in enumerate(kept) if it.kind == "fn" and it.name == shape.open_fn)
        t_text = kept[target][1]
        t_mask = mask(t_text)
        close = t_mask.rstrip().rfind("}")
        others = "".join(t for k, (_, t) in enumerate(kept) if k != target)
        completion = others.rstrip() + ("\n" if others.strip() else "") + t_text[:close].rstrip() + "\n"
    else:
        return None
    return Formed(_name(lead, "full_function", parts), head_rest, completion)


def _continuation(head: str, code: str, shape: _Shape, style: str, lead: List[str]) -> Formed:
    m = mask(code)
    end = first_below(m, shape.head_depth) if shape.head_depth > 0 else None
    parts: List[str] = []
    if shape.head_depth == 0:  # no open function: the whole completion is top-level items
        kept = _clean_items(code, shape, style, None, parts)
        return Formed(_name(lead, "continuation", parts), head, "".join(t for _, t in kept))
    if end is None:
        return Formed(_name(lead, "continuation", parts), head, code)
    if shape.test_closes:
        tail = code[end + 1:]
        trial: List[str] = []
        kept = _clean_items(tail, shape, style, shape.open_fn, trial)
        tail_defines_target = any(it.kind == "fn" and it.name == shape.open_fn for it, _ in kept)
        # MultiPL-E's stop token `\n}`: the function ends at the brace that closes it; cut there when the
        # completion does not balance as it is, or what follows clashes with what the program already has
        if net_depth(m) != 0 or trial or tail_defines_target:
            parts.append("cut")
            return Formed(_name(lead, "continuation", parts), head, code[:end])
        return Formed(_name(lead, "continuation", parts), head, code)
    tail = code[end + 1:]
    before = len(parts)
    kept = _clean_items(tail, shape, style, shape.open_fn, parts)
    if len(parts) == before:
        return Formed(_name(lead, "continuation", parts), head, code)
    return Formed(_name(lead, "continuation", parts), head, code[:end + 1] + "".join(t for _, t in kept))


@functools.lru_cache(maxsize=1 << 16)  # the plan, the build and the results row ask for the same sample
def form_completion(head: str, test: str, style: str, completion: str, mode: str = "auto") -> Formed:
    """The form of ``completion`` and the (head, completion) to build as ``head + completion + sep + test``.

    ``style`` is ``libtest`` (the test defines ``#[test]`` functions) or ``main``; ``mode`` is ``auto`` or ``raw``
    (``raw``: the head and completion exactly as given, form ``raw``).
    """
    if mode == "raw":
        return Formed("raw", head, completion)
    if mode != "auto":
        raise ValueError(f"unknown completion form mode {mode!r} (known: {', '.join(MODES)})")
    shape = _shape(head, test)
    lead: List[str] = []
    code = fenced_code(completion, shape.open_fn)
    if code is None:
        code = completion
    else:
        lead.append("fenced")
    if shape.open_fn and _defines_fn(code, shape.open_fn):
        formed = _full_function(head, code, shape, style, lead)
        if formed is not None:
            return formed
    return _continuation(head, code, shape, style, lead)


def form_for(problem, completion: str, mode: str = "auto") -> Formed:
    """:func:`form_completion` for a :class:`~pytest_heval.inputs.problems.Problem`."""
    return form_completion(problem.head, problem.test, problem.style, completion, mode)
