"""The Rust lexer (round trip on every dataset text, fuzzed), features found on real tokens only, and the
allow-list that decides what may be batched (issue 9, items 5, 7, 8)."""

from __future__ import annotations

import gzip
import json
import re

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


# -------------------------------------------------------------------------------------------------- wiring

from pytest_heval.inputs.problems import Problem  # noqa: E402
from pytest_heval.metrics import compute  # noqa: E402
from pytest_heval.program import assemble  # noqa: E402
from pytest_heval.program.testnames import test_paths as paths_of_tests  # noqa: E402
from pytest_heval.report.terminal import summary_lines  # noqa: E402
from pytest_heval.settings import Settings, SettingsError  # noqa: E402
from pytest_heval.toolchain import Toolchain  # noqa: E402
from pytest_heval.verdict import ERROR_TYPES, policy_verdict  # noqa: E402

ADD = Problem("A/0", "fn add(a: i32, b: i32) -> i32 {\n",
              "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn test_add() { assert_eq!(add(2, 3), 5); }\n}\n",
              "2021", "humaneval", "test")


@pytest.mark.parametrize("test, expected", [
    (ADD.test, ("tests::test_add",)),
    ("#[test]\nfn top() {}\n", ("top",)),
    ("mod a { mod b { #[test] #[should_panic] pub fn deep() {} } #[test] fn up() {} }\n#[test] fn root() {}",
     ("a::b::deep", "a::up", "root")),
    ("mod t {\n    // #[test] fn in_comment() {}\n    const S: &str = \"#[test] fn in_string() {}\";\n"
     "    #[test]\n    /// doc\n    async fn real() {}\n    fn helper() {}\n}", ("t::real",)),
    ("#[cfg(test)] mod tests { fn not_a_test() {} }", ()),
])
def test_test_paths(test, expected):
    assert paths_of_tests(test) == expected


def test_test_paths_name_the_datasets_tests(datasets):
    """The full paths end with the names the regex-based expected_tests finds, on every dataset's test text."""
    from pytest_heval.program.harden import expected_tests
    seen = 0
    for _name, r in dataset_rows(datasets):
        if "test" in r:
            paths = paths_of_tests(r["test"])
            assert tuple(p.rsplit("::", 1)[-1] for p in paths) == expected_tests(r["test"]), r.get("task_id")
            seen += bool(paths)
    assert seen > 600


def test_program_batchable_and_features_come_from_the_tokens():
    right = assemble(ADD, "    a + b\n}\n")
    assert right.batchable and right.features == frozenset() and right.test_paths == ("tests::test_add",)
    sneaky = assemble(ADD, '    a + b\n}\nconst S: &str = include_str!("s0000.rs");\n')
    assert not sneaky.batchable and sneaky.features == {"include"}
    words = assemble(ADD, '    let unsafe_count = "mod x; include!()"; a + b // unsafe\n}\n')
    assert words.batchable and words.features == frozenset()
    main = Problem("M/0", "fn add(a: i32, b: i32) -> i32 {\n", "}\nfn main() { assert_eq!(add(1, 2), 3); }\n",
                   "2015", "multipl-e", "tests")
    assert assemble(main, "    a + b\n").batchable  # main style batches too (issue 11.1)


def test_deny_setting():
    s = Settings.from_values({"deny": "unsafe, asm"}.get)
    assert s.denied == {"unsafe", "asm"} and Settings().denied == frozenset()
    with pytest.raises(SettingsError, match="--heval-deny: unknown feature"):
        Settings.from_values({"deny": "unsafe,nonsense"}.get)
    assert Settings.option("deny") == "--heval-deny"
    tc = Toolchain("/x/rustc", "/x", "rustc 1.95.0 (abc 2026-04-14)", "x86_64-unknown-linux-gnu", ())
    assert s.grading(tc, "bwrap")["deny"] == ["asm", "unsafe"]  # recorded in the metrics, part of the fingerprint
    assert s.fingerprint(tc, "bwrap") != Settings().fingerprint(tc, "bwrap")


def test_policy_verdict_and_feature_counts():
    assert "policy" in ERROR_TYPES
    v = policy_verdict({"unsafe", "asm"})
    assert v["passed"] is False and v["error_type"] == "policy" and v["result"] == "failed: uses denied feature(s): asm, unsafe"
    rows = [{"task_id": "A", "passed": True, "compile_ok": True, "error_type": None, "features": ["unsafe"]},
            {"task_id": "A", "passed": False, "compile_ok": False, "error_type": "policy", "features": ["asm", "unsafe"]},
            {"task_id": "A", "passed": False, "compile_ok": True, "error_type": "test_failure", "features": []},
            {"task_id": "A", "passed": False, "compile_ok": False, "error_type": "infra_error"}]
    m = compute(rows, [1])
    assert m["feature_counts"] == {"asm": 1, "unsafe": 2}
    assert m["error_counts"]["policy"] == 1 and m["judged"] == 3
    where = dict(label="s.jsonl", samples_file="/d/s.jsonl", results_file="r", expected_samples=4, missing=0,
                 graded_this_run=4, graded_twice=0, complete=True)
    lines = summary_lines(dict(m, **where))
    assert "  features (samples): asm=1, unsafe=2" in lines
    assert not any("features" in ln for ln in summary_lines(dict(compute(rows[2:], [1]), **where)))


# ---- main style (issue 11.1): a program's fn main becomes a module's, called by the batch root's main --------------

@pytest.mark.parametrize("text, e2015, e2021", [
    ("fn f(v: Vec<i32>) -> Vec<i32> { v.iter().map(|x| x + 1).collect::<Vec<_>>() }", None, None),
    ("use std::collections::HashMap; use ::core::cmp::max; fn f() { <i32 as Default>::default(); }", None, None),
    ("use Color::*;", "use Color", None),  # 2015: resolved from the crate root
    ("use {std::mem};", "use {", None),
    ("fn f() { main(); }", None, None),  # the module's own main: the test's, as alone
    ("use self::Color::*;", "use self", "self::"),
    ("fn f() { self::g() }", "self::", "self::"),
    ("fn f() { ::main() }", "::main", "::main"),  # 2015: the crate root's (the harness's) main
    ("fn f() -> usize { std::env::args().count() }", "args", "args"),  # argv[1] names the module in a batch
    ("fn f() { let args_os = 1; }", "args_os", "args_os"),
    ("fn f() { let s = \"use Foo::*; std::env::args()\"; } // ::main", None, None),  # strings, comments: inert
    ("mod m {}", "keyword mod", "keyword mod"),  # everything batch_refusal refuses
])
def test_main_batch_refusal(text, e2015, e2021):
    from pytest_heval.features import main_batch_refusal

    for edition, expected in (("2015", e2015), ("2021", e2021)):
        why = main_batch_refusal(text, edition)
        assert (why is None) if expected is None else (why is not None and why.startswith(expected)), (edition, why)


def test_main_style_module_body_makes_only_the_tests_main_pub():
    from pytest_heval.inputs.problems import Problem
    from pytest_heval.program import assemble

    p = Problem("M/0", "/// fn main() in a doc\nfn add(a: i32, b: i32) -> i32 {\n",
                "}\n\nfn main() {\n    let candidate = add;\n    assert_eq!(candidate(2, 3), 5);\n}\n",
                "2015", "multipl-e", "main")
    prog = assemble(p, "    // fn main() {}\n    a + b\n")
    assert prog.batchable and prog.module_body == prog.body.replace("\nfn main()", "\npub fn main()")
    assert "pub fn main" not in prog.source  # built alone, the program is the same as ever
    assert not assemble(p, "    std::env::args().count() as i32\n").batchable
    two = Problem("M/1", p.head, p.test + "fn main() {}\n", "2015", "multipl-e", "main")
    assert assemble(two, "    a + b\n").main_at == -1 and not assemble(two, "    a + b\n").batchable
    odd = Problem("M/2", p.head, p.test.replace("let candidate", "use foo::*; let candidate"), "2015", "multipl-e", "main")
    assert not assemble(odd, "    a + b\n").batchable  # the test's own paths are checked too
