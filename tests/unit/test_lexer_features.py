"""The Rust lexer (round trip on every dataset text, fuzzed), features found on real tokens only, and the
allow-list that decides what may be batched (issue 9, items 5, 7, 8)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import read_jsonl
from pytest_heval.features import FEATURES, batch_refusal, batchable, features, fenced_code
from pytest_heval.lexer import lex, tokens

# today's check (program._NOT_BATCHABLE at d066216), kept here to compare: the allow-list replaces it
_NOT_BATCHABLE = re.compile(
    r"crate::|\$crate|#!\s*\[|no_mangle|export_name|link_section|macro_export|module_path!|file!|"
    r"\bmod\s+\w+\s*;|extern\s+crate|#\s*\[\s*path\b|\bsuper::|__heval"
)

TEXT_FIELDS = ("prompt", "declaration", "canonical_solution", "buggy_solution", "test", "tests", "example_test",
               "gpt_solution")


def dataset_rows(datasets):
    """(file name, row) for every row of every dataset, whatever its container."""
    for path in sorted(datasets.iterdir()):
        if path.name.endswith(".jsonl.gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        elif path.name.endswith(".json"):
            rows = json.loads(path.read_text(encoding="utf-8"))
        elif path.name.endswith(".jsonl"):
            rows = read_jsonl(path)
        else:
            continue
        for r in rows:
            yield path.name, r


def dataset_texts(datasets):
    for name, r in dataset_rows(datasets):
        for field in TEXT_FIELDS:
            if isinstance(r.get(field), str):
                yield name, r.get("task_id") or r.get("name"), field, r[field]


# ---------------------------------------------------------------------------------------------------- lexer


def kinds(text):
    return [(t.kind, t.text) for t in tokens(text)]


@pytest.mark.parametrize("text, expected", [
    ("r#unsafe", [("raw_ident", "r#unsafe")]),
    ("unsafe_count", [("ident", "unsafe_count")]),
    ("fn mod crate", [("keyword", "fn"), ("keyword", "mod"), ("keyword", "crate")]),
    ("union macro_rules gen", [("ident", "union"), ("ident", "macro_rules"), ("ident", "gen")]),
    ("'a'", [("char", "'a'")]),
    ("'a", [("lifetime", "'a")]),
    ("'static str", [("lifetime", "'static"), ("ident", "str")]),
    ("'r#a", [("lifetime", "'r#a")]),
    ("'\\''", [("char", "'\\''")]),
    ("'\\\\'", [("char", "'\\\\'")]),
    ("'\\u{1F600}'", [("char", "'\\u{1F600}'")]),
    ("'é'", [("char", "'é'")]),
    ("b'x' b'\\''", [("byte", "b'x'"), ("byte", "b'\\''")]),
    ('"a\\"b"', [("str", '"a\\"b"')]),
    ('"multi\nline"', [("str", '"multi\nline"')]),
    ('b"x" c"y"', [("byte_str", 'b"x"'), ("c_str", 'c"y"')]),
    ('r"x\\"', [("raw_str", 'r"x\\"')]),
    ('r#"a"b"#', [("raw_str", 'r#"a"b"#')]),
    ('r###"a"##b"###', [("raw_str", 'r###"a"##b"###')]),
    ('br#"x"# cr"y" cr##"z"##', [("raw_byte_str", 'br#"x"#'), ("raw_c_str", 'cr"y"'), ("raw_c_str", 'cr##"z"##')]),
    ('"x"suffix', [("str", '"x"suffix')]),
    ("b c r br cr", [("ident", "b"), ("ident", "c"), ("ident", "r"), ("ident", "br"), ("ident", "cr")]),
    ("1u8 0x1F_u32 0b1010 0o17", [("int", "1u8"), ("int", "0x1F_u32"), ("int", "0b1010"), ("int", "0o17")]),
    ("1.0e-3f64 1e10 2. 3.5", [("float", "1.0e-3f64"), ("float", "1e10"), ("float", "2."), ("float", "3.5")]),
    ("1..2", [("int", "1"), ("punct", ".."), ("int", "2")]),
    ("1.max(2)", [("int", "1"), ("punct", "."), ("ident", "max"), ("punct", "("), ("int", "2"), ("punct", ")")]),
    ("x.0.1", [("ident", "x"), ("punct", "."), ("float", "0.1")]),
    (":: -> => ..= <<= >>= != #! $ ... ..",
     [("punct", p) for p in ":: -> => ..= <<= >>= != #! $ ... ..".split()]),
    ("a<b<c>>", [("ident", "a"), ("punct", "<"), ("ident", "b"), ("punct", "<"), ("ident", "c"), ("punct", ">>")]),
    ("$crate::x", [("punct", "$"), ("keyword", "crate"), ("punct", "::"), ("ident", "x")]),
    ("naïve_ß", [("ident", "naïve_ß")]),
])
def test_lexer_tokens(text, expected):
    assert kinds(text) == expected


@pytest.mark.parametrize("text, kind", [
    ("/* a /* nested */ still */", "comment"),
    ("// line", "comment"),
    ("//// not doc", "comment"),
    ("/**/", "comment"),
    ("/***/", "comment"),
    ("/// doc", "doc_comment"),
    ("//! inner doc", "doc_comment"),
    ("/** doc */", "doc_comment"),
    ("/*! inner */", "doc_comment"),
])
def test_lexer_comments(text, kind):
    toks = lex(text)
    assert [(t.kind, t.text) for t in toks] == [(kind, text)]
    assert tokens(text) == []
    assert toks[0].inner == text.startswith(("//!", "/*!"))


@pytest.mark.parametrize("text, error_text", [
    ('x = "abc', '"abc'),
    ("x /* a /* b */", "/* a /* b */"),
    ('r#"abc"', 'r#"abc"'),
    ('b"abc', 'b"abc'),
    ("'", "'"),
    ("x ` y", "`"),
])
def test_lexer_errors_are_tokens(text, error_text):
    toks = lex(text)
    assert "".join(t.text for t in toks) == text
    assert [t.text for t in toks if t.kind == "error"] == [error_text]


def test_lexer_offsets():
    text = "fn f() -> u8 { b'x' } // end"
    for t in lex(text):
        assert text[t.start:t.end] == t.text


def test_lexer_round_trip_on_every_dataset_text(datasets):
    seen = 0
    for name, task, field, text in dataset_texts(datasets):
        toks = lex(text)
        assert "".join(t.text for t in toks) == text, (name, task, field)
        assert toks == lex(text, fast=False), (name, task, field)
        code = fenced_code(text) if field == "gpt_solution" else text
        errors = [t for t in lex(code) if t.kind == "error"]
        assert not errors, (name, task, field, errors[:3])
        seen += 1
    assert seen > 2500  # six datasets, ~1,000 rows, 2-5 texts each


# Rust-shaped text: pieces that open and close literals, comments and raw strings, in any order
RUSTY = st.lists(st.sampled_from(list("rbc#\"'\\/*!$:.-=<>{}()[]_ae019xu8 \n\té")
                                 + ["r#", "'a", "/*", "*/", 'r#"', '"#', "b'", "//", "///", "0x", "1e", "mod", "unsafe",
                                    "→", "\u2028", "\x85", "ß", "1.", "c\""]),
                 max_size=60).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), RUSTY))
def test_lexer_round_trip_fuzzed(text):
    toks = lex(text)
    assert "".join(t.text for t in toks) == text
    assert toks == lex(text, fast=False)  # the one-regex path and the reference lexer agree
    pos = 0
    for t in toks:
        assert t.start == pos and t.text
        pos = t.end
    features(toks)  # never raises either
    batch_refusal(toks)


# ------------------------------------------------------------------------------------------------- features

FEATURE_CASES = [
    ("unsafe { *p }", {"unsafe"}),
    ("unsafe fn f() {}", {"unsafe"}),
    ('extern "C" fn f() {}', {"extern"}),
    ("extern crate md5;", {"extern"}),
    ('extern "C" { fn abs(x: i32) -> i32; }', {"extern"}),
    ('unsafe { std::arch::asm!("nop") }', {"unsafe", "asm"}),
    ('global_asm!(".section .init_array");', {"asm"}),
    ('core::arch::naked_asm!("ret")', {"asm"}),
    ("#[no_mangle] pub fn f() {}", {"link"}),
    ("#[unsafe(no_mangle)] pub fn f() {}", {"link", "unsafe"}),
    ('#[export_name = "x"] pub fn f() {}', {"link"}),
    ('#[link(name = "m")] extern {}', {"link", "extern"}),
    ('extern { #[link_name = "abs"] fn a(x: i32) -> i32; }', {"link", "extern"}),
    ('#[used] #[link_section = ".init_array"] static I: fn() = f;', {"link"}),
    ("#[cfg_attr(all(), no_mangle)] fn f() {}", {"link"}),
    ('include!("s0000.rs");', {"include"}),
    ('const S: &str = include_str!("x");', {"include"}),
    ('const B: &[u8] = std::include_bytes!("x");', {"include"}),
    ('env!("PATH")', {"env"}),
    ('option_env!("X")', {"env"}),
    ("mod x;", {"mod"}),
    ("mod r#x;", {"mod"}),
    ('#[path = "a.rs"] mod a;', {"mod"}),
    ("#[test] fn t() {}", {"test"}),
    ("#[cfg(test)] fn t() {}", {"test"}),
    ("#[should_panic] fn t() {}", {"test"}),
    ("#[macro_export] macro_rules! m { () => {} }", {"macro_export"}),
    ("#[proc_macro_derive(X)] pub fn f() {}", {"proc_macro"}),
    ("#![allow(unused)]", {"inner_attr"}),
    ("# ! [allow(unused)]", {"inner_attr"}),
    ("crate::f()", {"crate_path"}),
    ("use super::*;", {"crate_path"}),
    ("macro_rules! m { () => { $crate::f() } }", {"crate_path"}),
    ("file!()", {"location"}),
    ("line!()", {"location"}),
    ("column!()", {"location"}),
    ("module_path!()", {"location"}),
]

NOT_FEATURE_CASES = [
    "std::mem::swap(&mut a, &mut b);",
    "let unsafe_count = 1; let extern_x = 2; let mod_x = 3; let crate_name = 4;",
    "// unsafe { } extern \"C\" include!(\"x\") #[no_mangle] mod x; crate::",
    "/* asm!(\"\") #[test] /* nested unsafe */ env!(\"X\") */",
    '"unsafe extern include!(\\"x\\") #[no_mangle] mod x; crate::f() file!()"',
    'r##"#[test] mod x; crate:: "# unsafe"##',
    "'#' ; '!' ; 'u'",
    "/// unsafe fn, #[test], mod x;, include!(\"s0000.rs\")\nfn documented() {}",
    "//! extern crate x; #![no_std]",
    "/** asm!() */ fn f() {}",
    "let r#unsafe = 1; let r#extern = 2;",
    "let include = 1; let env = 2; let file = 3; let line = x.line(); let asm = f(file, line);",
    "fn asm() {} fn env() {} fn include() {}",
    "self::f(); pub(crate) fn g() {}",
    'b"unsafe" ; c"extern" ; br#"mod x;"# ; b\'#\'',
    "#[derive(Debug, Clone)] struct S; #[allow(unused)] fn f() {}",
    "macro_rules! include { () => {} }",
    "x != y; !flag; a.used; s.test(); let test = 1;",
]


@pytest.mark.parametrize("code, expected", FEATURE_CASES)
def test_feature_detected_on_real_use(code, expected):
    assert features(code) == expected
    assert expected <= set(FEATURES)


@pytest.mark.parametrize("code", NOT_FEATURE_CASES)
def test_no_feature_in_identifiers_strings_comments(code):
    assert features(code) == frozenset()


def test_features_accepts_tokens():
    assert features(lex("unsafe {}")) == {"unsafe"}


# ------------------------------------------------------------------------------------------------ batchable

# issue 9 item 5: a macro that declares modules named like the batch's siblings, holding tests
SIBLING_MODULES = """
macro_rules! spoil {
    ($($name:ident),*) => { $( pub mod $name { #[test] fn spoiled() { assert!(false, "spoiled"); } } )* };
}
spoil!(s0000, s0001, s0002);
"""
REFUSED = {
    # item 5
    "macro-generated sibling modules": SIBLING_MODULES,
    "macro-generated module, neutral name": "macro_rules! m { () => { mod inner { } } } m!();",
    "sibling name": "fn f() -> i32 { s0001::add(1, 2) }",
    "sibling name as lifetime": "fn f<'s0001>() {}",
    "harness name": "fn f() { __heval_exit_guard::DONE.store(true, std::sync::atomic::Ordering::SeqCst); }",
    "#[test] in a completion": "#[test] fn t() { assert!(false); }",
    "#[should_panic]": "#[should_panic] fn t() {}",
    # item 7
    "include!": 'fn f() -> i32 { include!("s0000.rs") }',
    "include_str!": 'const S: &str = include_str!("s0000.rs");',
    "include_bytes!": 'const B: &[u8] = include_bytes!("../s0000.rs");',
    "std::include!": 'fn f() { std::include!("x.rs"); }',
    "raw-identifier macro name": 'fn f() { r#include!("x.rs"); }',
    "macro name from a metavariable": 'macro_rules! m { ($println:ident) => { $println!("s0000.rs") } } m!(include);',
    "repetition then !": 'macro_rules! m { ($($t:tt)*) => { $($t)*!("s0000.rs") } } m!(include);',
    "local macro shadowing include": '{ macro_rules! include { ($x:expr) => {} } } fn f() { include!("s0000.rs"); }',
    "renamed std macro": 'use std::include as inc; macro_rules! inc { () => {} } fn f() { inc!("s0000.rs"); }',
    "macro name and ! from two metavariables":
        'macro_rules! m { ($n:ident, $b:tt) => { $n $b ("s0000.rs") } } fn f() { m!(include, !); }',
    "literal name before a metavariable !": 'macro_rules! m { ($b:tt) => { include $b ("s0000.rs") } }',
    "repetition before a metavariable": 'macro_rules! m { ($($t:tt)*; $b:tt) => { $($t)* $b ("x") } }',
    "glob at the crate root": "use ::*;",
    "unknown macro": "lazy_static! { static ref X: i32 = 1; }",
    "env!": 'const P: &str = env!("PATH");',
    "file!": "fn f() -> &'static str { file!() }",
    "module_path!": "fn f() -> &'static str { module_path!() }",
    # item 8
    "mod r#s0000;": "mod r#s0000;",
    "mod x;": "mod helper;",
    "#[path]": '#[path = "s0000.rs"] mod other;',
    "inline mod": "mod helper { pub fn f() {} }",
    # crate-relative paths, inner attributes, native escape hatches
    "crate::": "fn f() { crate::g() }",
    "super::": "fn f() { super::g() }",
    "pub(crate)": "pub(crate) fn f() {}",
    "$crate": "macro_rules! m { () => { $crate::f() } }",
    "#![...]": "#![allow(unused)]",
    "# ! [...]": "# ! [allow(unused)]",
    "inner doc": "//! crate docs",
    "extern fn": 'extern "C" fn f() {}',
    "extern block": 'extern "C" { fn abs(x: i32) -> i32; }',
    "extern crate": "extern crate core;",
    "#[no_mangle]": "#[no_mangle] pub fn f() {}",
    "#[unsafe(no_mangle)]": "#[unsafe(no_mangle)] pub fn f() {}",
    "#[export_name]": '#[export_name = "main"] pub fn f() {}',
    "constructor": '#[used] #[link_section = ".init_array"] static C: fn() = f; fn f() {}',
    "#[link]": '#[link(name = "no_such_lib")] fn f() {}',
    "global_asm!": 'std::arch::global_asm!(".globl x");',
    "asm!": 'fn f() { unsafe { std::arch::asm!("nop") } }',
    "#[global_allocator]": "#[global_allocator] static A: std::alloc::System = std::alloc::System;",
    "#[macro_export]": "#[macro_export] macro_rules! m { () => {} }",
    "cfg_attr": "#[cfg_attr(all(), no_mangle)] pub fn f() {}",
    "derive from elsewhere": "#[derive(Serialize)] struct S;",
    "attribute from a metavariable": "macro_rules! m { ($a:meta) => { #[$a] fn t() {} } } m!(test);",
    "# not before [": "macro_rules! m { ($x:tt) => { # $x fn t() {} } }",
    "computed macro_rules name": "macro_rules! m { ($n:ident) => { macro_rules! $n { () => {} } } }",
    "does not lex": 'fn f() -> &str { "unterminated }',
    "reserved keyword": "fn f() { let x = box 1; }",
}

HONEST = {
    "swap": "pub fn f(mut a: i32, mut b: i32) -> (i32, i32) { std::mem::swap(&mut a, &mut b); (a, b) }",
    "arc mutex threads": """
use std::sync::{Arc, Mutex};
pub fn count(n: usize) -> usize {
    let c = Arc::new(Mutex::new(0));
    let hs: Vec<_> = (0..n).map(|_| { let c = Arc::clone(&c); std::thread::spawn(move || *c.lock().unwrap() += 1) }).collect();
    for h in hs { h.join().unwrap(); }
    let v = *c.lock().unwrap();
    v
}""",
    "closures and generics": """
pub fn apply<T: Copy, F: Fn(T) -> T>(x: T, f: F) -> T { f(f(x)) }
pub fn twice(v: &[i64]) -> Vec<i64> { v.iter().map(|&x| apply(x, |y| y * 2)).collect() }""",
    "traits and impl blocks": """
pub trait Area { fn area(&self) -> f64; }
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sq { pub side: f64 }
impl Area for Sq { fn area(&self) -> f64 { self.side * self.side } }
impl Sq { pub fn new(side: f64) -> Self { Sq { side } } }
impl std::fmt::Display for Sq {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { write!(f, "Sq({})", self.side) }
}""",
    "nested fns": "pub fn outer(x: i32) -> i32 { fn inner(y: i32) -> i32 { y + 1 } inner(x) * 2 }",
    "macro_rules helper": """
macro_rules! sq { ($x:expr) => { $x * $x }; }
macro_rules! all_pos { ($($x:expr),*) => { true $(&& $x > 0)* && !false }; }
macro_rules! maxm { ($a:expr) => { $a }; ($a:expr, $($rest:expr),+) => { { let r = maxm!($($rest),+); if $a > r { $a } else { r } } }; }
pub fn f(x: i32) -> i32 { if all_pos!(x, 1) { maxm!(sq!(x), 3, x) } else { 0 } }""",
    "honest unsafe": "pub fn first(v: &[u8]) -> u8 { assert!(!v.is_empty()); unsafe { *v.get_unchecked(0) } }",
    "lookalike words": """
/// Uses no `unsafe`, no `include!("s0000.rs")`, no `mod x;`.
#[inline]
#[allow(dead_code, clippy::needless_range_loop)]
#[must_use]
pub fn words(unsafe_count: usize) -> String {
    // mod s0001; crate::x; #[test]
    let include = "include!(\\"s0000.rs\\") #[no_mangle] extern \\"C\\"";
    let raw = r#"mod r#s0000; $crate"#;
    let c = '#';
    format!("{}{}{}{}", include, raw, c, unsafe_count)
}""",
    "std macros": """
pub fn show(v: &[i32]) -> String {
    let mut s = String::new();
    use std::fmt::Write;
    std::write!(s, "{:?}", v).unwrap();
    debug_assert!(s.len() > 0);
    if cfg!(test) { s.push('!'); }
    assert!(matches!(v.first(), Some(_) | None));
    s + &std::format!("{}", vec![1, 2].len())
}""",
    "thread_local": """
thread_local! { static N: std::cell::Cell<u32> = std::cell::Cell::new(0); }
pub fn bump() -> u32 { N.with(|n| { n.set(n.get() + 1); n.get() }) }""",
    "dangling cfg": "pub fn ok() -> bool { true }\n#[cfg(any())]\n",
    "self path and statics": """
static TABLE: [u8; 3] = [1, 2, 3];
pub enum E { A, B }
pub fn pick(e: self::E) -> u8 { match e { self::E::A => TABLE[0], E::B => TABLE[2] } }""",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_batchable_refuses(case):
    assert not batchable(REFUSED[case]), case
    assert batch_refusal(REFUSED[case])


@pytest.mark.parametrize("case", sorted(HONEST))
def test_batchable_accepts_honest_code(case):
    assert batch_refusal(HONEST[case]) is None


def test_regex_misses_what_the_allow_list_refuses():
    """Today's check (a regex) lets these through; the allow-list does not (issue 9 items 5, 7, 8)."""
    for case in ("macro-generated sibling modules", "include!", "include_str!", "mod r#s0000;"):
        assert not _NOT_BATCHABLE.search(REFUSED[case]), case
        assert not batchable(REFUSED[case]), case


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


# -------------------------------------------------------------------------------------- real completions


def completion_sets(datasets):
    def rows(name):
        return read_jsonl(datasets / name)
    return {
        "humaneval-rust-164 canonical": [(r["prompt"], r["canonical_solution"]) for r in rows("humaneval-rust-164.jsonl")],
        "sigil-180 canonical": [(r["prompt"], r["canonical_solution"]) for r in rows("humaneval-rust-sigil-180.jsonl")],
        "humanevalpack canonical": [(r["declaration"], r["canonical_solution"]) for r in rows("humanevalpack-rust.jsonl")],
        "humanevalpack buggy": [(r["declaration"], r["buggy_solution"]) for r in rows("humanevalpack-rust.jsonl")],
        "chat answers": [("", fenced_code(r["gpt_solution"]))
                         for r in rows("sandboxfusion-humaneval-rs-chat-answers.jsonl")],
    }


def test_real_completions_still_batch(datasets):
    """Safe code keeps its speed: every canonical and buggy solution batches, as with today's regex; a chat
    answer is refused only for a keyword the allow-list names (its own `mod tests`, an `extern crate`)."""
    for name, pairs in completion_sets(datasets).items():
        refused = [(i, batch_refusal(h + c)) for i, (h, c) in enumerate(pairs) if not batchable(h + c)]
        regex = sum(not _NOT_BATCHABLE.search(h + c) for h, c in pairs)
        if name == "chat answers":
            assert len(refused) <= 2 and all(why in ("keyword mod", "keyword extern") for _, why in refused), refused
        else:
            assert refused == [] and regex == len(pairs), name
