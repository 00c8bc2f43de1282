"""What a completion does that ordinary code does not: its escape hatches (``features``) and whether it is safe to
build as one module of a shared batch crate (``batchable``). Both read the real tokens of ``lexer.py``: a word in
a string, a comment, a doc comment, a char literal or inside an identifier (``unsafe_count``, ``std::mem::swap``)
is never a feature and never a reason to refuse.

Features (stable names; a completion's set is a ``frozenset`` of these):

============== ==========================================================================================
``unsafe``      the ``unsafe`` keyword (blocks, fns, impls, traits, ``unsafe extern``, ``#[unsafe(...)]``)
``extern``      the ``extern`` keyword: extern blocks, ``extern "ABI" fn``, ``extern crate``
``asm``         ``asm!``, ``global_asm!``, ``naked_asm!`` (bare or by path, ``std::arch::asm!``)
``link``        a link attribute: ``link``, ``link_name``, ``link_ordinal``, ``no_mangle``, ``export_name``,
                ``link_section``, ``used``, ``naked`` (also inside ``unsafe(...)`` or ``cfg_attr``)
``include``     ``include!``, ``include_str!``, ``include_bytes!``
``env``         ``env!``, ``option_env!`` (compile-time environment)
``mod``         an out-of-line module ``mod x;`` (``mod r#x;`` too) or a ``#[path]`` attribute
``test``        test attributes in the completion: ``#[test]``, ``#[cfg(test)]`` (``test`` anywhere in an
                attribute), ``#[should_panic]``, ``#[ignore]``, ``#[bench]``
``macro_export`` ``#[macro_export]``
``proc_macro``  ``#[proc_macro]``, ``#[proc_macro_derive]``, ``#[proc_macro_attribute]``
``inner_attr``  an inner attribute ``#![...]`` (``# ! [`` too)
``crate_path``  a crate-relative path: ``crate::``, ``super::``, ``$crate``
``location``    a file-relative macro: ``file!``, ``line!``, ``column!``, ``module_path!``
============== ==========================================================================================

Batchable: an allow-list. A completion (with its problem's head) becomes a module ``sNNNN`` of a crate shared
with up to 95 others, and each sample's tests run from that binary; a completion is batched only if every one of
its significant tokens is one the list proves harmless there, so nothing it can write reaches a sibling, the
crate root or the harness, and its meaning is the same as when built alone. Everything else is built alone
(same verdict, a little slower). ``batch_refusal`` says why; ``batchable`` is ``batch_refusal(...) is None``.

* **Lexing**: no ``error`` token (a text that does not lex is built alone, for its own compiler message) and no
  inner doc comment (``//!``, an inner attribute).
* **Identifiers, raw identifiers, lifetimes**: any name except the harness's own: ``s`` + 4 or more digits (the
  batch's module names) and anything starting with ``__heval``; and no ``r#crate``/``r#self``/``r#super``/``r#Self``.
  No path can then name a sibling or the exit guard.
* **Keywords**: those of ordinary item and expression code (``fn let impl trait struct enum type const static
  unsafe use pub self Self`` ... see ``ALLOWED_KEYWORDS``). Not allowed: ``mod`` (inline or out-of-line: modules
  named like siblings, file loading), ``crate``/``super`` (paths out of the module; ``pub(crate)`` included),
  ``extern`` (ABIs, symbols, ``extern crate``), reserved keywords (``macro``, ``box``, ``do``...).
  ``unsafe`` is allowed: unsafe code acts only in its own process, and the ways it could act in a sibling's
  (constructors, exported symbols, a global allocator, assembly) are each refused below.
* **Macro calls** (``name!``, ``std::name!``): a name in ``ALLOWED_MACROS`` (assertions, formatting, ``vec``,
  ``matches``, ``dbg``, ``cfg``, ``thread_local``, ...; bare or by a ``std``/``core``/``alloc`` path), or a
  ``macro_rules!`` macro the text defines itself, when that name is no std macro (a ``macro_rules! include`` in
  an inner block would not shadow a later ``include!``) and no ``use`` item mentions it. The macros' bodies are
  part of the text, so every rule applies to them. An expansion could still assemble a call from pieces, so in a
  macro body these are refused: a name or a ``$(...)*`` repetition right before ``!`` or before a metavariable
  (``$m!(..)``, ``$($t)*!(..)``, ``include $bang(..)``, ``$name $bang(..)``), and a ``macro_rules!`` whose name
  is not a literal identifier. A caller's own ``name !`` must be a call (``name!(``) and is checked as one.
  Not allowed, so: ``include*!``, ``env!``, ``option_env!``, ``file!``, ``line!``, ``column!``,
  ``module_path!``, ``asm!``, ``global_asm!``, any unknown macro.
* **Attributes**: outer ``#[name ...]`` with ``name`` a literal identifier in ``ALLOWED_ATTRIBUTES`` (``derive`` of
  std traits only, lint levels, ``inline``, ``cold``, ``must_use``, ``doc``, ``cfg``, ``repr``, ``deprecated``,
  ``track_caller``, ``non_exhaustive``, ``rustfmt::``/``clippy::`` tool attributes). ``cfg`` is safe: a module's
  body is the same text as the standalone program's and a dangling ``#[cfg(any())]`` lands on the harness's
  separator item in both. Not allowed: inner attributes, ``cfg_attr`` (it makes any attribute), ``test``,
  ``should_panic``, ``ignore``, ``path``, ``link*``, ``no_mangle``, ``export_name``, ``link_section``, ``used``,
  ``global_allocator``, ``panic_handler``, ``macro_export``, ``macro_use``, ``proc_macro*``, ``unsafe(...)``, and
  anything unknown; ``#`` not followed by ``[`` (``#!``, ``#$x`` in a macro body).
* **``$``**: followed by an identifier or ``(`` (macro metavariables and repetitions); ``$crate`` is refused.
* **``::*`` / ``::{`` at a path's start** (``use ::*;``): refused; in edition 2015 that is the crate root, where
  the siblings live.
* Literals and other punctuation: always allowed.

Main style (MultiPL-E: the tests are the program's ``fn main``) adds, in ``main_batch_refusal``: the module's
``main`` is called by the batch's own root ``main``, which is told by ``argv[1]`` which module to call, and a
module's paths that start at the crate root mean something else there. So, refused as well:

* ``args`` / ``args_os`` (the command line has one more argument than when built alone);
* ``self::`` (the module, not the crate root);
* a path starting with ``::`` whose first name is not ``std``/``core``/``alloc`` (edition 2015: the crate root,
  where the harness's ``main`` and the siblings live);
* in edition 2015, a ``use`` whose path does not start with ``std``/``core``/``alloc``: 2015 resolves ``use`` from
  the crate root, so ``use Color::*`` names the program's own item alone and the batch root's in a batch.

The problem's test text goes through the path rules too (``main_path_refusal``).

What this does not cover (residual): trait impls are crate-wide (coherence), so a sibling's
``impl PartialEq<Mine> for i32`` can make another sibling's type inference ambiguous; that is a compile error
in the batch, and a sample that fails in a batch is confirmed alone before it is called a compile error.
"""

from __future__ import annotations

import re
from typing import FrozenSet, Iterable, List, Optional, Sequence, Union

from .lexer import Token, lex

__all__ = ["FEATURES", "features", "batchable", "batch_refusal", "main_batch_refusal", "main_path_refusal",
           "fenced_code",
           "ALLOWED_KEYWORDS", "ALLOWED_MACROS", "ALLOWED_ATTRIBUTES", "HARNESS_NAME"]

FEATURES = ("unsafe", "extern", "asm", "link", "include", "env", "mod", "test", "macro_export", "proc_macro",
            "inner_attr", "crate_path", "location")

_MACRO_FEATURES = {
    "asm": "asm", "global_asm": "asm", "naked_asm": "asm",
    "include": "include", "include_str": "include", "include_bytes": "include",
    "env": "env", "option_env": "env",
    "file": "location", "line": "location", "column": "location", "module_path": "location",
}
_ATTR_FEATURES = {
    **dict.fromkeys(("link", "link_name", "link_ordinal", "no_mangle", "export_name", "link_section", "used",
                     "naked"), "link"),
    **dict.fromkeys(("test", "should_panic", "ignore", "bench"), "test"),
    "macro_export": "macro_export",
    **dict.fromkeys(("proc_macro", "proc_macro_derive", "proc_macro_attribute"), "proc_macro"),
    "path": "mod",
}

ALLOWED_KEYWORDS = frozenset(
    "as async await break const continue dyn else enum false fn for if impl in let loop match move mut pub ref "
    "return self Self static struct trait true type unsafe use where while".split()
)
ALLOWED_MACROS = frozenset(
    "assert assert_eq assert_ne debug_assert debug_assert_eq debug_assert_ne panic unreachable todo unimplemented "
    "vec format format_args print println eprint eprintln write writeln matches dbg concat stringify cfg "
    "thread_local compile_error is_x86_feature_detected addr_of addr_of_mut".split()
)
# every macro std's prelude (or a std path) offers on stable: a local macro_rules! named like one of these
# does not reliably shadow it (textual scope), so such a name earns no exemption
STD_MACROS = ALLOWED_MACROS | frozenset(
    "env option_env file line column module_path include include_str include_bytes asm global_asm naked_asm "
    "try concat_idents const_format_args format_args_nl log_syntax trace_macros concat_bytes cfg_match "
    "assert_matches debug_assert_matches".split()
)
STD_PATH_ROOTS = frozenset({"std", "core", "alloc"})
STD_DERIVES = frozenset("Debug Clone Copy PartialEq Eq PartialOrd Ord Hash Default".split())
ALLOWED_ATTRIBUTES = frozenset(
    "derive allow warn deny forbid expect inline cold must_use doc cfg repr deprecated track_caller "
    "non_exhaustive".split()
)
ALLOWED_TOOLS = frozenset({"rustfmt", "clippy"})
HARNESS_NAME = re.compile(r"s\d{4,}\Z|__heval", re.IGNORECASE)
_RAW_FORBIDDEN = frozenset({"crate", "self", "super", "Self"})
_OPEN = ("(", "[", "{")

Source = Union[str, Iterable[Token]]


def _all(source: Source) -> List[Token]:
    return lex(source) if isinstance(source, str) else list(source)


def _sig(toks: Sequence[Token]) -> List[Token]:
    return [t for t in toks if not t.trivia]


def _is_name(t: Optional[Token]) -> bool:
    return t is not None and t.kind in ("ident", "raw_ident")


def _macro_calls(toks: Sequence[Token]):
    """(index of the name, name, path before it) for each ``name ! (`` in significant tokens."""
    n = len(toks)
    for k, t in enumerate(toks):
        if _is_name(t) and k + 2 < n and toks[k + 1].is_punct("!") and toks[k + 2].kind == "punct" \
                and toks[k + 2].text in _OPEN:
            path, j = [], k - 1
            while j >= 1 and toks[j].is_punct("::") and toks[j - 1].kind in ("ident", "raw_ident", "keyword"):
                path.insert(0, toks[j - 1])
                j -= 2
            yield k, t.name, path


def _attributes(toks: Sequence[Token]):
    """(inner, index of '#', index of '[', index past the matching ']') for each attribute."""
    n = len(toks)
    for k, t in enumerate(toks):
        if t.kind != "punct" or t.text not in ("#", "#!"):
            continue
        inner, j = t.text == "#!", k + 1
        if not inner and j < n and toks[j].is_punct("!"):
            inner, j = True, j + 1
        if j >= n or not toks[j].is_punct("["):
            continue
        e = _closing(toks, j)
        yield inner, k, j, min(e + 1, n)


def features(source: Source) -> FrozenSet[str]:
    """The escape hatches (names in ``FEATURES``) that the real tokens of ``source`` use."""
    toks = _sig(_all(source))
    found = set()
    n = len(toks)
    for k, t in enumerate(toks):
        if t.kind != "keyword":
            continue
        nxt = toks[k + 1] if k + 1 < n else None
        if t.text in ("unsafe", "extern"):
            found.add(t.text)
        elif t.text == "mod" and _is_name(nxt) and k + 2 < n and toks[k + 2].is_punct(";"):
            found.add("mod")
        elif t.text in ("crate", "super") and ((nxt is not None and nxt.is_punct("::"))
                                               or (k > 0 and toks[k - 1].is_punct("$"))):
            found.add("crate_path")
    for _k, name, _path in _macro_calls(toks):
        if name in _MACRO_FEATURES:
            found.add(_MACRO_FEATURES[name])
    for inner, _k, j, e in _attributes(toks):
        if inner:
            found.add("inner_attr")
        for t in toks[j + 1:e]:
            if _is_name(t) and t.name in _ATTR_FEATURES:
                found.add(_ATTR_FEATURES[t.name])
    return frozenset(found)


def _use_names(toks: Sequence[Token]) -> set:
    names, inside = set(), False
    for t in toks:
        if t.kind == "keyword" and t.text == "use":
            inside = True
        elif inside and t.is_punct(";"):
            inside = False
        elif inside and _is_name(t):
            names.add(t.name)
    return names


def _closing(toks: Sequence[Token], start: int) -> int:
    """Index of the bracket that closes the one at ``start`` (``len(toks)`` when it is never closed)."""
    depth, e, n = 0, start, len(toks)
    while e < n:
        if toks[e].kind == "punct" and toks[e].text in _OPEN:
            depth += 1
        elif toks[e].kind == "punct" and toks[e].text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                break
        e += 1
    return e


def _macro_rules_spans(toks: Sequence[Token]) -> List[tuple]:
    """(start, end) index ranges of each ``macro_rules! name { ... }`` definition's body."""
    spans = []
    n = len(toks)
    for k, t in enumerate(toks):
        if t.kind == "ident" and t.text == "macro_rules" and k + 3 < n and toks[k + 1].is_punct("!") \
                and toks[k + 3].kind == "punct" and toks[k + 3].text in _OPEN:
            spans.append((k + 3, _closing(toks, k + 3)))
    return spans


def _repetition_ops(toks: Sequence[Token], in_macro_body: Sequence[bool]) -> set:
    """Indices of the ``*``/``+``/``?`` that end a ``$( ... ) sep? op`` repetition in a macro body."""
    ops, n = set(), len(toks)
    for k in range(n - 1):
        if not (in_macro_body[k] and toks[k].is_punct("$") and toks[k + 1].is_punct("(")):
            continue
        e = _closing(toks, k + 1)
        for j in (e + 1, e + 2):  # `)*`, or `),*` with a separator
            if j < n and toks[j].kind == "punct" and toks[j].text in ("*", "+", "?"):
                ops.add(j)
                break
    return ops


def batch_refusal(source: Source) -> Optional[str]:
    """Why ``source`` may not be built as a module of a shared batch crate, or None when it may (see the module
    docstring for the allow-list)."""
    every = _all(source)
    for t in every:
        if t.kind == "error":
            return f"does not lex at offset {t.start}: {t.text[:20]!r}"
        if t.inner:
            return "inner doc comment"
    toks = _sig(every)
    n = len(toks)
    local = set()
    for k, t in enumerate(toks):
        if t.kind == "ident" and t.text == "macro_rules" and k + 1 < n and toks[k + 1].is_punct("!"):
            if k + 2 >= n or not _is_name(toks[k + 2]):
                return "macro_rules! with a name that is not a literal identifier"
            local.add(toks[k + 2].name)
    local -= STD_MACROS | _use_names(toks)
    in_macro_body = [False] * n
    for s, e in _macro_rules_spans(toks):
        for i in range(s, min(e + 1, n)):
            in_macro_body[i] = True
    rep_ops = _repetition_ops(toks, in_macro_body)
    calls = {k: (name, path) for k, name, path in _macro_calls(toks)}
    attr_names = {}
    for inner, k, j, e in _attributes(toks):
        if inner:
            return "inner attribute"
        attr_names[k] = (j, e)
    for k, t in enumerate(toks):
        kind = t.kind
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < n else None
        if kind in ("ident", "raw_ident", "lifetime"):
            if HARNESS_NAME.match(t.name):
                return f"harness name {t.text}"
            if kind == "raw_ident" and t.name in _RAW_FORBIDDEN:
                return f"raw identifier {t.text}"
            if nxt is not None and nxt.is_punct("!"):
                if t.text == "macro_rules" and kind == "ident":
                    continue
                if k not in calls:
                    return f"{t.text}! is not a macro call"
                if prev is not None and prev.is_punct("$"):
                    return f"macro name from a metavariable: ${t.text}!"
                name, path = calls[k]
                if path:
                    if path[0].text not in STD_PATH_ROOTS or name not in ALLOWED_MACROS:
                        return f"macro {'::'.join(p.text for p in path)}::{name}!"
                elif name not in ALLOWED_MACROS and name not in local:
                    return f"macro {name}!"
        elif kind == "keyword":
            if t.text not in ALLOWED_KEYWORDS:
                return f"keyword {t.text}"
        elif kind == "punct":
            if t.text == "#!":
                return "inner attribute"
            if t.text == "#":
                if k not in attr_names:
                    return "# not followed by ["
                j, e = attr_names[k]
                why = _attribute_refusal(toks[j + 1:e - 1])
                if why:
                    return why
            elif t.text == "$":
                if nxt is None or not (_is_name(nxt) or nxt.is_punct("(")):
                    return f"${nxt.text if nxt else ''}"
            elif t.text == "!" and k - 1 in rep_ops:
                return "a repetition followed by ! in a macro body"
            elif t.text == "::" and nxt is not None and nxt.kind == "punct" and nxt.text in ("*", "{") \
                    and not (_is_name(prev) or (prev is not None and prev.text in ("self", "Self", ">", ">>"))):
                return "a glob or group at the crate root (::* or ::{)"
        if in_macro_body[k] and nxt is not None and nxt.is_punct("$") and (_is_name(t) or k in rep_ops):
            # nothing that could become a macro call's name may stand right before a metavariable that could
            # become its `!` (`include $bang(...)`, `$name $bang(...)`, `$($t)* $bang(...)`)
            return f"{t.text} right before a metavariable in a macro body"
    return None


def _attribute_refusal(body: Sequence[Token]) -> Optional[str]:
    """Checks the tokens between an outer attribute's brackets."""
    if not body or not _is_name(body[0]):
        return f"attribute #[{body[0].text if body else ''}...]"
    path = [body[0].name]
    i = 1
    while i + 1 < len(body) and body[i].is_punct("::") and _is_name(body[i + 1]):
        path.append(body[i + 1].name)
        i += 2
    if len(path) > 1:
        return None if path[0] in ALLOWED_TOOLS else f"attribute #[{'::'.join(path)}]"
    if path[0] not in ALLOWED_ATTRIBUTES:
        return f"attribute #[{path[0]}]"
    if path[0] == "derive":
        for t in body[1:]:
            if _is_name(t):
                if t.name not in STD_DERIVES and t.name not in STD_PATH_ROOTS:
                    return f"derive({t.text})"
            elif not (t.kind == "punct" and t.text in ("(", ")", ",", "::")):
                return f"derive(... {t.text} ...)"
    return None


_MAIN_NAMES = frozenset({"args", "args_os"})
_PATH_PREFIXES = frozenset({"self", "Self", "super", "crate", ">", ">>"})  # what ``::`` continues, not starts


def main_path_refusal(source: Source, edition: str) -> Optional[str]:
    """Why the paths of ``source`` could mean something else in a module of a main-style batch crate than at the
    root of a program of its own (see the module docstring), or None."""
    toks = _sig(_all(source))
    n = len(toks)
    for k, t in enumerate(toks):
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < n else None
        if t.kind == "keyword" and t.text == "use":
            if edition == "2015":
                j = k + 2 if nxt is not None and nxt.is_punct("::") else k + 1
                root = toks[j] if j < n else None
                if not (_is_name(root) and root.name in STD_PATH_ROOTS):
                    return f"use {root.text if root else ''}... in edition 2015 (resolved from the crate root)"
        if t.kind == "keyword" and t.text == "self" and nxt is not None and nxt.is_punct("::"):
            return "self:: (the module in a batch)"
        if t.is_punct("::") and not (_is_name(prev) or (prev is not None and prev.text in _PATH_PREFIXES)):
            if not (_is_name(nxt) and nxt.name in STD_PATH_ROOTS):
                return f"::{nxt.text if nxt else ''} at a path's start"
    return None


def main_batch_refusal(source: Source, edition: str) -> Optional[str]:
    """Why a main-style program's head + completion may not be built as a module of a shared crate whose root
    ``main`` calls the module's, or None when it may: :func:`batch_refusal`, plus the main-style rules."""
    toks = _all(source)
    why = batch_refusal(toks)
    if why:
        return why
    for t in toks:
        if _is_name(t) and t.name in _MAIN_NAMES:
            return f"{t.text} (the command line differs in a batch)"
    return main_path_refusal(toks, edition)


def batchable(source: Source) -> bool:
    """True when an allow-list over the real tokens proves ``source`` safe to build as a module of a shared crate."""
    return batch_refusal(source) is None


_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)


def fenced_code(answer: str) -> str:
    """The code of a chat answer: its first fenced block tagged ``rust``/``rs`` (or untagged); the whole text
    when it has no fence."""
    blocks = _FENCE.findall(answer)
    for tag, code in blocks:
        if tag.lower() in ("rust", "rs", ""):
            return code
    return blocks[0][1] if blocks else answer
