"""A Rust tokenizer, written for the checks that decide what a completion may do (see ``features.py``).

Why our own: the checks must see the *real* tokens of a completion (``unsafe`` the keyword, not the word in a
string, a comment or ``unsafe_count``), and a regex over the text cannot tell those apart. This module follows
rustc's own lexer (``rustc_lexer``) closely enough for that, with no dependency.

``lex(text)`` returns every piece of the text, trivia included, so ``"".join(t.text for t in lex(text)) == text``
always holds. ``tokens(text)`` drops the trivia (whitespace and comments, doc comments included). Nothing raises:
a text that does not lex gives a token of kind ``error`` (an unterminated string or block comment runs to the end
of the text; an unterminated character literal stops where rustc stops; a character that starts no token is one
``error`` token) and lexing goes on after it.

Kinds (stable strings): ``whitespace``, ``comment``, ``doc_comment`` (``///``, ``//!``, ``/**``, ``/*!``; see
``Token.inner``), ``ident``, ``raw_ident`` (``r#x``), ``keyword``, ``lifetime`` (``'a``, ``'r#a``), ``char``,
``byte``, ``str``, ``byte_str``, ``c_str``, ``raw_str``, ``raw_byte_str``, ``raw_c_str``, ``int``, ``float``,
``punct`` (multi-character operators are one token: ``::``, ``->``, ``=>``, ``..=``, ``<<=``, ``#!``...),
``error``. Literal suffixes belong to their literal (``1u8``, ``2.5e-3f64``, ``"x"suffix``).

Not a shebang reader: a completion is never the start of a file, so ``#!`` is always the punctuation of an
inner attribute. Keywords are those of editions 2018+ (``async``, ``await``, ``dyn``, ``try``), strict and
reserved; weak keywords (``union``, ``macro_rules``, ``raw``, ``safe``) and ``gen`` are identifiers, as in rustc.
"""

from __future__ import annotations

import re
from typing import Iterable, List, NamedTuple, Union

__all__ = ["Token", "lex", "tokens", "KEYWORDS", "TRIVIA", "LITERALS"]

KEYWORDS = frozenset(
    # strict
    "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod "
    "move mut pub ref return self Self static struct super trait true type unsafe use where while "
    # reserved
    "abstract become box do final macro override priv try typeof unsized virtual yield".split()
)
TRIVIA = frozenset({"whitespace", "comment", "doc_comment"})
LITERALS = frozenset({"char", "byte", "str", "byte_str", "c_str", "raw_str", "raw_byte_str", "raw_c_str",
                      "int", "float"})


class Token(NamedTuple):
    kind: str
    text: str
    start: int  # offset in the lexed text (characters)

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def trivia(self) -> bool:
        return self.kind in TRIVIA

    @property
    def inner(self) -> bool:
        """An inner doc comment (``//!``, ``/*!``): an inner attribute in disguise."""
        return self.kind == "doc_comment" and self.text[2] == "!"

    @property
    def name(self) -> str:
        """An identifier's name (``r#x`` -> ``x``), a lifetime's without its quote; else the text."""
        if self.kind == "raw_ident":
            return self.text[2:]
        if self.kind == "lifetime":
            return self.text[3:] if self.text.startswith("'r#") else self.text[1:]
        return self.text

    def is_punct(self, text: str) -> bool:
        return self.kind == "punct" and self.text == text


# rustc's Pattern_White_Space
_WS = re.compile("[\t\n\x0b\x0c\r \x85\u200e\u200f\u2028\u2029]+")
_IDENT = re.compile(r"[^\W\d]\w*")
_IDENT_REST = re.compile(r"\w*")
_DEC = re.compile(r"[0-9_]*")
_HEX = re.compile(r"[0-9a-fA-F_]*")
_RAW_OPEN = re.compile(r'(?:br|cr|r)(#*)"')
_DQ_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # after the opening quote, through the closing one
_PUNCT = re.compile(r"<<=|>>=|\.\.\.|\.\.=|::|->|=>|==|!=|<=|>=|&&|\|\||\+=|-=|\*=|/=|%=|\^=|&=|\|=|<<|>>|\.\.|#!"
                    r"|[;,.(){}\[\]@#~?:$=!<>\-&|+*/^%]")


def _is_id_start(c: str) -> bool:
    return c == "_" or c.isidentifier()


def _is_id_continue(c: str) -> bool:
    return ("a" + c).isidentifier()


def _ident_end(text: str, i: int) -> int:
    """End of the identifier whose first character is at ``i`` (XID_Continue, via str.isidentifier)."""
    n = len(text)
    j = _IDENT_REST.match(text, i + 1).end()
    while j < n and text[j] > "\x7f" and _is_id_continue(text[j]):
        j = _IDENT_REST.match(text, j + 1).end()
    return j


def _suffix(text: str, j: int) -> int:
    """A literal's suffix (``u8``, ``f64``...) is an identifier glued to it."""
    if j < len(text) and _is_id_start(text[j]):
        return _ident_end(text, j)
    return j


def _at(text: str, i: int) -> str:
    return text[i] if i < len(text) else ""


def _single_quoted(text: str, j: int) -> tuple:
    """rustc's single_quoted_string from ``j`` (after the quote): (end, terminated)."""
    if _at(text, j + 1) == "'" and _at(text, j) not in ("\\", ""):
        return j + 2, True
    n = len(text)
    while j < n:
        c = text[j]
        if c == "'":
            return j + 1, True
        if c == "/" or (c == "\n" and _at(text, j + 1) != "'"):
            break
        j += 2 if c == "\\" else 1
    return min(j, n), False


def _block_comment_end(text: str, i: int) -> int:
    """End of the (nested) block comment opened at ``i``, or -1 if it is not closed."""
    depth, j = 1, i + 2
    while depth:
        o, c = text.find("/*", j), text.find("*/", j)
        if c < 0:
            return -1
        if 0 <= o < c:
            depth, j = depth + 1, o + 2
        else:
            depth, j = depth - 1, c + 2
    return j


def _number(text: str, i: int) -> tuple:
    """rustc's number lexing: (end, kind); the suffix is eaten by the caller."""
    j, n = i + 1, len(text)
    if text[i] == "0" and j < n:
        c = text[j]
        if c in "box":
            # 0b / 0o / 0x: rustc eats decimal digits for b and o (and reports bad ones later)
            return (_HEX if c == "x" else _DEC).match(text, j + 1).end(), "int"
        if c.isdigit() or c == "_":
            j = _DEC.match(text, j).end()
    else:
        j = _DEC.match(text, j).end()
    c = _at(text, j)
    if c == "." and _at(text, j + 1) != "." and not _is_id_start(_at(text, j + 1) or " "):
        j += 1
        if _at(text, j).isdigit() and _at(text, j).isascii():
            j = _DEC.match(text, j).end()
            if _at(text, j) in ("e", "E"):
                j = _exponent(text, j + 1)
        return j, "float"
    if c in ("e", "E"):
        return _exponent(text, j + 1), "float"
    return j, "int"


def _exponent(text: str, j: int) -> int:
    if _at(text, j) in ("+", "-"):
        j += 1
    return _DEC.match(text, j).end()


def _lex_one(text: str, i: int) -> tuple:
    """(kind, end) of the token starting at ``i``."""
    c = text[i]
    n = len(text)
    m = _WS.match(text, i)
    if m:
        return "whitespace", m.end()
    if c == "/" and i + 1 < n:
        nxt = text[i + 1]
        if nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            body = text[i:j]
            doc = (body.startswith("///") and not body.startswith("////")) or body.startswith("//!")
            return ("doc_comment" if doc else "comment"), j
        if nxt == "*":
            j = _block_comment_end(text, i)
            if j < 0:
                return "error", n
            body = text[i:j]
            doc = (body.startswith("/**") and not body.startswith("/***") and body != "/**/") or \
                body.startswith("/*!")
            return ("doc_comment" if doc else "comment"), j
    if c in "rbc":
        m = _RAW_OPEN.match(text, i)
        if m:
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            if j < 0:
                return "error", n
            kind = {"r": "raw_str", "b": "raw_byte_str", "c": "raw_c_str"}[c]
            return kind, _suffix(text, j + len(close))
        if c == "r" and _at(text, i + 1) == "#" and _is_id_start(_at(text, i + 2) or " "):
            return "raw_ident", _ident_end(text, i + 2)
        if c in "bc" and _at(text, i + 1) == '"':
            m = _DQ_BODY.match(text, i + 2)
            if not m:
                return "error", n
            return ("byte_str" if c == "b" else "c_str"), _suffix(text, m.end())
        if c == "b" and _at(text, i + 1) == "'":
            j, ok = _single_quoted(text, i + 2)
            return ("byte", _suffix(text, j)) if ok else ("error", j)
    if c == '"':
        m = _DQ_BODY.match(text, i + 1)
        if not m:
            return "error", n
        return "str", _suffix(text, m.end())
    if c == "'":
        first, second = _at(text, i + 1), _at(text, i + 2)
        can_be_lifetime = second != "'" and first != "" and (_is_id_start(first) or (first.isdigit() and first.isascii()))
        if not can_be_lifetime:
            j, ok = _single_quoted(text, i + 1)
            return ("char", _suffix(text, j)) if ok else ("error", j)
        if first == "r" and second == "#" and _is_id_start(_at(text, i + 3) or " "):
            return "lifetime", _ident_end(text, i + 3)
        j = _ident_end(text, i + 1)
        if _at(text, j) == "'":
            return "char", _suffix(text, j + 1)
        return "lifetime", j
    if c.isdigit() and c.isascii():
        j, kind = _number(text, i)
        return kind, _suffix(text, j)
    if _is_id_start(c):
        j = _ident_end(text, i)
        return ("keyword" if text[i:j] in KEYWORDS else "ident"), j
    m = _PUNCT.match(text, i)
    if m:
        return "punct", m.end()
    return "error", i + 1


# One regex for the whole text, tried by re.finditer (the loop over tokens runs in C): every alternative is a
# complete token as _lex_one would lex it, and what it cannot decide alone (a nested block comment, a quote that
# may open a lifetime or a character, an unterminated literal, anything touching a non-ASCII character) falls to
# an alternative whose kind is None, and _lex_one, the reference, lexes that token. The tests compare both paths.
_SUFFIX = "(?>(?:[A-Za-z_][A-Za-z0-9_]*)?)"
_MASTER = re.compile(
    "(?P<whitespace>[\t\n\x0b\x0c\r \x85\u200e\u200f\u2028\u2029]+)"
    "|(?P<line>//[^\n]*)"
    "|(?P<s_block>/\\*)"
    "|(?P<raw>(?:br|cr|r)(?P<h>#*)\"(?>[\\s\\S]*?\"(?P=h))" + _SUFFIX + ")"
    "|(?P<s_raw>(?:br|cr|r)#*\")"
    "|(?P<raw_ident>r#[A-Za-z_][A-Za-z0-9_]*+)"
    "|(?P<s_byte>b')"
    "|(?P<string>[bc]?\"[^\"\\\\]*+(?:\\\\[\\s\\S][^\"\\\\]*+)*+\"" + _SUFFIX + ")"
    "|(?P<s_string>[bc]?\")"
    "|(?P<s_quote>')"
    "|(?P<float>(?>[0-9][0-9_]*(?:\\.(?![.A-Za-z_])(?:[0-9][0-9_]*(?:[eE][+-]?[0-9_]*)?)?|[eE][+-]?[0-9_]*))"
    + _SUFFIX + ")"
    "|(?P<int>(?>0[bo][0-9_]*|0x[0-9a-fA-F_]*|[0-9][0-9_]*)" + _SUFFIX + ")"
    "|(?P<ident>(?![rbc]['\"#]|[bc]r[\"#])[A-Za-z_][A-Za-z0-9_]*+)"
    "|(?P<punct>(?!//|/\\*)(?:" + _PUNCT.pattern + "))"
    "|(?P<s_other>[\\s\\S])"
)
# groups whose token an adjacent non-ASCII character could extend (an identifier or a suffix continues)
_ASCII_END = frozenset({"raw", "raw_ident", "string", "float", "int", "ident"})
_RAW_KIND = {"r": "raw_str", "b": "raw_byte_str", "c": "raw_c_str"}
_STR_KIND = {'"': "str", "b": "byte_str", "c": "c_str"}


def _fast_kind(group: str, tok: str):
    """The kind of a _MASTER match, or None when _lex_one must lex it."""
    if group == "ident":
        return "keyword" if tok in KEYWORDS else "ident"
    if group in ("whitespace", "punct", "int", "float", "raw_ident"):
        return group
    if group == "line":
        return "doc_comment" if (tok.startswith("///") and not tok.startswith("////")) or tok.startswith("//!") \
            else "comment"
    if group == "raw":
        return _RAW_KIND[tok[0]]
    if group == "string":
        return _STR_KIND[tok[0]]
    return None


def lex(text: str, fast: bool = True) -> List[Token]:
    """Every token of ``text``, trivia included: their texts concatenated give ``text`` back.

    ``fast=False`` lexes token by token with the reference lexer only (same result, ~3x slower)."""
    out: List[Token] = []
    i, n = 0, len(text)
    while fast and i < n:
        for m in _MASTER.finditer(text, i):
            tok, g = m.group(), m.lastgroup
            kind = _fast_kind(g, tok)
            if kind is None or (g in _ASCII_END and m.end() < n and text[m.end()] > "\x7f"):
                i = m.start()
                kind, j = _lex_one(text, i)
                out.append(Token(kind, text[i:j], i))
                i = j
                break
            out.append(Token(kind, tok, m.start()))
        else:
            i = n
    while i < n:
        kind, j = _lex_one(text, i)
        if j <= i:  # never loop: a zero-width token is a lexer bug, make it a one-character error
            kind, j = "error", i + 1
        out.append(Token(kind, text[i:j], i))
        i = j
    return out


def tokens(source: Union[str, Iterable[Token]]) -> List[Token]:
    """The significant tokens (no whitespace, no comments) of a text, or of tokens already lexed."""
    toks = lex(source) if isinstance(source, str) else source
    return [t for t in toks if t.kind not in TRIVIA]
