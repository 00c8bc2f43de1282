"""Real Rust behind the lexer's and the allow-list's unit tests: the lexer agrees with rustc token for token (a
proc macro's view: kind and span) on every dataset program, and the honest/hostile cases of
``tests/unit/test_lexer_features.py`` are what they claim (the honest ones compile as modules of one crate, the
sibling-module attack really spoils a sibling under libtest's substring filter). rustc only, no sandbox."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pytest_heval.features import batchable, fenced_code
from pytest_heval.lexer import lex, tokens
from tests.unit.test_lexer_features import HONEST, SIBLING_MODULES, dataset_rows

RUSTC = shutil.which("rustc")


@pytest.mark.skipif(RUSTC is None, reason="rustc is needed to check the cases are real Rust")
def test_cases_are_real_rust(tmp_path):
    """The honest cases compile as modules of one crate (what a batch is), and the sibling-module attack
    really does spoil a sibling under libtest's substring filter: the cases above test something real."""
    root = []
    for i, (name, code) in enumerate(sorted(HONEST.items())):
        (tmp_path / f"h{i}.rs").write_text(code + "\nconst _: () = ();\n")
        root.append(f'#[path = "h{i}.rs"] #[allow(dead_code, unused)] mod h{i};')
    (tmp_path / "root.rs").write_text("\n".join(root) + "\n")
    r = subprocess.run([RUSTC, "--edition=2021", "--crate-type=lib", "--emit=metadata", "-A", "warnings",
                        "-o", str(tmp_path / "libh.rmeta"), str(tmp_path / "root.rs")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

    honest = "pub fn add(a: i32, b: i32) -> i32 { a + b }\n#[cfg(test)] mod tests { use super::*; " \
             "#[test] fn test_add() { assert_eq!(add(2, 3), 5); } }\n"
    (tmp_path / "s0000.rs").write_text(honest)
    (tmp_path / "s0001.rs").write_text(SIBLING_MODULES)
    (tmp_path / "batch.rs").write_text('#[path = "s0000.rs"] mod s0000;\n#[path = "s0001.rs"] mod s0001;\n')
    exe = tmp_path / "batch"
    r = subprocess.run([RUSTC, "--edition=2021", "--test", "-A", "warnings", "-o", str(exe),
                        str(tmp_path / "batch.rs")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    run = subprocess.run([str(exe), "s0000::", "--test-threads=1"], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert "s0000::tests::test_add ... ok" in run.stdout
    assert "s0001::s0000::spoiled ... FAILED" in run.stdout  # the attack works on a substring filter
    assert batchable(honest.split("#[cfg(test)]")[0]) and not batchable(SIBLING_MODULES)


# A proc macro sees rustc's own tokens: `dump!{N; ...}` prints each leaf token's kind and line/column span.
DUMP_MACRO = r"""
extern crate proc_macro;
use proc_macro::{Delimiter, Span, TokenStream, TokenTree};
use std::fmt::Write;

fn put(out: &mut String, kind: &str, s: Span) {
    writeln!(out, "{} {} {} {} {}", kind, s.start().line(), s.start().column(), s.end().line(), s.end().column()).unwrap();
}

fn walk(ts: TokenStream, out: &mut String) {
    for tt in ts {
        match tt {
            TokenTree::Group(g) => {
                let d = g.delimiter() != Delimiter::None;
                if d { put(out, "punct", g.span_open()); }
                walk(g.stream(), out);
                if d { put(out, "punct", g.span_close()); }
            }
            TokenTree::Ident(i) => put(out, "ident", i.span()),
            TokenTree::Punct(p) => put(out, "punct", p.span()),
            TokenTree::Literal(l) => put(out, "lit", l.span()),
        }
    }
}

// dump!{ N ; tokens... } prints "@@ N" then one line per leaf token: kind and its span's line/column range
#[proc_macro]
pub fn dump(input: TokenStream) -> TokenStream {
    let mut it = input.into_iter();
    let id = it.next().map(|t| t.to_string()).unwrap_or_default();
    it.next();
    let mut s = format!("@@ {}\n", id);
    walk(it.collect(), &mut s);
    eprint!("{}", s);
    TokenStream::new()
}
"""

# every kind of token, with the cases a tokenizer gets wrong (lifetime vs char, raw strings with `#` inside...)
TRICKY = r"""
fn f<'a, 'b: 'a>(x: &'a str, _y: &'b [u8]) -> (char, u8, &'static str) {
    let _raw = r#"a "quoted" # str"#; let _r2 = r##"x"#y"##; let _r0 = r"\d+";
    let _b = b"bytes\x00\"" ; let _br = br#"raw"bytes"#; let _c = c"cstr"; let _cr = cr##"c"#s"##;
    let _ch = ('a', '\'', '\\', '\n', '\u{1F600}', 'é', b'x', b'\'');
    let _n = (1u8, 0x1F_u32, 0b1010_i64, 0o17, 1.0e-3f64, 1e10, 2., 3.5E+2_f32, 1_000, 0usize);
    let _t = (1, 2).0; let _u = ((1, 2), 3).0.1; let _range = 1..2; let _ri = 1..=2; let _m = 1.max(2);
    /* block /* nested */ comment */ // line
    /// doc
    let r#type = r#match(); let naïve = 1;
    let _ops = (1 << 2 >> 1, 1 != 2, 1 <= 2, true && false || true, !false);
    let mut z = 0; z += 1; z -= 1; z *= 2; z /= 2; z %= 3; z ^= 1; z &= 1; z |= 1; z <<= 1; z >>= 1;
    let _cl = |q: i32| -> i32 { q }; let _p = std::mem::size_of::<Vec<Vec<i32>>>();
    'outer: loop { break 'outer; }
    let _s = "multi
line \
 string"; let _e = "";
    macro_rules! m { ($($t:tt)*) => { $($t)* }; }
    #[allow(unused)] let _h = x.len() as u8 + _y[0]; let _q = Some(1)?;
    let _x = 'r#raw_life; let _g = &mut *Box::new(1); let _at = match 1 { n @ 1..=9 => n, _ => 0 };
    ('c', 1, "s")
}
/*! inner block doc */
//! inner line doc
/** outer block doc */
/**/ /***/ //// not doc
"""


def rustc_view(text: str, inner_doc_hash: bool = True):
    """What rustc's token stream looks like for our tokens: (kind, line, column, end line, end column), the
    text starting on line 2 (a proc macro splits operators into characters, gives a lifetime a `'` and an ident
    with the lifetime's span, and turns a doc comment into `#[doc = "..."]` with the comment's span)."""
    pos, line, col = [], 2, 1
    for ch in text:
        pos.append((line, col))
        line, col = (line + 1, 1) if ch == "\n" else (line, col + 1)
    pos.append((line, col))
    out = []

    def add(kind, s, e):
        out.append((kind,) + pos[s] + pos[e])
    for t in lex(text):
        s, e = t.start, t.end
        if t.kind in ("whitespace", "comment"):
            continue
        if t.kind == "doc_comment":
            for kind in ["punct"] * (2 if t.inner else 1) + ["punct", "ident", "punct", "lit", "punct"]:
                add(kind, s, e)
        elif t.kind in ("ident", "keyword", "raw_ident"):
            add("ident", s, e)
        elif t.kind == "lifetime":
            add("punct", s, e)
            add("ident", s, e)
        elif t.kind == "punct":
            for j in range(len(t.text)):
                add("punct", s + j, s + j + 1)
        else:
            add("error" if t.kind == "error" else "lit", s, e)
    return out


def balanced(text: str) -> bool:
    stack = []
    for t in tokens(text):
        if t.kind == "error":
            return False
        if t.kind == "punct" and t.text in "([{":
            stack.append(t.text)
        elif t.kind == "punct" and t.text in ")]}":
            if not stack or "([{"[")]}".index(t.text)] != stack.pop():
                return False
    return not stack


def dataset_programs(datasets):
    """Whole programs (prompt + solution + test) of every dataset, and every chat answer's code."""
    for name, r in dataset_rows(datasets):
        head = r.get("declaration", r.get("prompt", ""))
        if "tests" in r:  # MultiPL-E style
            yield r["prompt"] + r["tests"]
            if "gpt_solution" in r:
                yield fenced_code(r["gpt_solution"])
            continue
        for field in ("canonical_solution", "buggy_solution"):
            if field in r:
                yield head + r[field] + "\n" + r["test"]


@pytest.mark.skipif(RUSTC is None, reason="rustc is the reference")
def test_lexer_agrees_with_rustc(tmp_path, datasets):
    """Token for token, our lexer finds what rustc finds (kind and span) on every whole program of the
    datasets whose delimiters balance (what a macro can take) and on a text of tricky cases."""
    r = subprocess.run([RUSTC, "--edition=2021", "--crate-type=proc-macro", "-o", str(tmp_path / "libdump.so"),
                        "-"], input=DUMP_MACRO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    programs = [TRICKY] + [p for p in dataset_programs(datasets) if balanced(p)]
    assert len(programs) > 900
    root = ["#[macro_use] extern crate dump;"]
    for i, p in enumerate(programs):
        (tmp_path / f"p{i}.rs").write_text(f"dump!{{{i};\n{p}\n}}\n", encoding="utf-8")
        root.append(f'#[path = "p{i}.rs"] mod p{i};')
    (tmp_path / "root.rs").write_text("\n".join(root) + "\n")
    r = subprocess.run([RUSTC, "--edition=2021", "--crate-type=lib", "--emit=metadata", "-A", "warnings",
                        "--extern", f"dump={tmp_path / 'libdump.so'}", "-o", str(tmp_path / "x.rmeta"),
                        str(tmp_path / "root.rs")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    seen, cur = {}, None
    for line in r.stderr.splitlines():
        parts = line.split()
        if parts[:1] == ["@@"]:
            cur = seen[int(parts[1])] = []
        elif cur is not None and len(parts) == 5 and parts[0] in ("ident", "punct", "lit"):
            cur.append((parts[0],) + tuple(int(x) for x in parts[1:]))
    assert len(seen) == len(programs)
    differ = [i for i, p in enumerate(programs) if rustc_view(p) != seen[i]]
    assert differ == [], [programs[i][:200] for i in differ[:3]]
