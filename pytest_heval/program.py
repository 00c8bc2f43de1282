"""Assembling the Rust program for one sample: head + completion + "\\n" + test, hardened.

Two things are added to what the dataset defines, neither of which changes the verdict of honest code:

* The problem's own test text is rewritten so its assertion macros are called by absolute path
  (``assert_eq!`` -> ``::std::assert_eq!``): a completion that defines ``macro_rules! assert_eq``
  cannot turn the tests' assertions into no-ops.
* An exit guard (see :data:`EXIT_GUARD`) interposes the C library's ``exit``/``_exit``/``_Exit``:
  a call with status 0 from Rust code (``std::process::exit(0)`` in the solution, in a ``Drop``, in a
  panic hook...) ends the process with :data:`TAMPER_EXIT` instead. The normal end of a program
  (returning from ``main``; libtest returning after its summary) goes through glibc's internal exit
  path, which is not interposed, so it still exits 0. libtest's own failure exit (101) and every
  non-zero status pass through unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import platform
import re
from typing import Tuple

from .problems import Problem

TAMPER_EXIT = 86
SEPARATOR = "\nconst _: () = ();\n"
TAMPER_MESSAGE = "heval: exit with status 0 before the end of the tests/main (refused)"

_ASSERT_MACROS = re.compile(
    r"(?<![\w:$!])\b(assert|assert_eq|assert_ne|debug_assert|debug_assert_eq|debug_assert_ne|"
    r"panic|unreachable|todo|unimplemented|vec|format|matches|write|writeln|print|println|eprint|eprintln|"
    r"concat|stringify|format_args)(\s*)!"
)

EXIT_GUARD = r"""
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(dead_code, non_snake_case, non_upper_case_globals, unused_unsafe, static_mut_refs)]
mod __heval_exit_guard {
    fn __heval_die(code: i32) -> ! {
        let code = if code == 0 {
            let _ = ::std::io::Write::write_all(&mut ::std::io::stderr(), b"\n@MESSAGE@\n");
            @TAMPER@
        } else {
            code
        };
        unsafe { ::std::arch::asm!("syscall", in("rax") 231usize, in("rdi") code as isize, options(noreturn)) }
    }
    #[@NO_MANGLE@]
    pub extern "C" fn exit(code: i32) -> ! { __heval_die(code) }
    #[@NO_MANGLE@]
    pub extern "C" fn _exit(code: i32) -> ! { __heval_die(code) }
    #[@NO_MANGLE@]
    pub extern "C" fn _Exit(code: i32) -> ! { __heval_die(code) }
    #[@NO_MANGLE@]
    pub extern "C" fn quick_exit(code: i32) -> ! { __heval_die(code) }

    // Proof of a normal end: the runner puts a fresh nonce in HEVAL_NONCE; before main, __heval_init
    // copies it and wipes it from the environment's memory (so /proc/self/environ and env::var no longer
    // show it); at the normal end of the process (glibc runs .fini_array on the main thread after main
    // returns) __heval_fini prints "@END@<nonce>". Ending any other way (a raw exit system call, exec,
    // a signal, the real exit called from a test thread) prints no proof, and the run does not pass.
    @EXTERN@ "C" {
        fn getenv(name: *const u8) -> *mut u8;
        fn write(fd: i32, buf: *const u8, n: usize) -> isize;
        fn getpid() -> i32;
    }
    static mut NONCE: [u8; 64] = [0; 64];
    static mut NONCE_LEN: usize = 0;
    pub static DONE: ::std::sync::atomic::AtomicBool = ::std::sync::atomic::AtomicBool::new(@DONE_AT_START@);
    extern "C" fn __heval_init() {
        unsafe {
            let p = getenv(b"HEVAL_NONCE\0".as_ptr());
            if p.is_null() { return; }
            let mut n = 0usize;
            while n < 64 && *p.add(n) != 0 {
                NONCE[n] = *p.add(n);
                *p.add(n) = b'0';
                n += 1;
            }
            NONCE_LEN = n;
        }
    }
    extern "C" fn __heval_fini() {
        unsafe {
            let tid: i64;
            ::std::arch::asm!("syscall", inlateout("rax") 186i64 => tid, lateout("rcx") _, lateout("r11") _);
            if NONCE_LEN == 0 || tid != getpid() as i64 || !DONE.load(::std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let mut line = [0u8; 96];
            let tag = b"\n@END@";
            line[..tag.len()].copy_from_slice(tag);
            line[tag.len()..tag.len() + NONCE_LEN].copy_from_slice(&NONCE[..NONCE_LEN]);
            let total = tag.len() + NONCE_LEN;
            line[total] = b'\n';
            write(1, line.as_ptr(), total + 1);
        }
    }
    #[used]
    #[@LINK_SECTION_INIT@]
    static __HEVAL_INIT: extern "C" fn() = __heval_init;
    #[used]
    #[@LINK_SECTION_FINI@]
    static __HEVAL_FINI: extern "C" fn() = __heval_fini;
}
"""

END_TAG = "@heval-end:"
# the guard (and its end-of-run proof) is compiled in on x86_64 Linux only (its #[cfg]); the host is the target
PROOF = platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")

# main style: the harness owns `main`, so "reached the end of main" is known, not guessed
MAIN_WRAPPER = """
fn main() {
    __heval_user_main();
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    __heval_exit_guard::DONE.store(true, ::std::sync::atomic::Ordering::SeqCst);
}
"""
_USER_MAIN = re.compile(r"\bfn\s+main\s*\(\s*\)\s*\{")


@functools.lru_cache(maxsize=8)
def exit_guard(unsafe_attrs: bool = True, main_style: bool = False) -> str:
    """The guard module; ``unsafe_attrs`` selects ``#[unsafe(no_mangle)]`` (rustc >= 1.82, needed by edition 2024)."""
    def attr(a: str) -> str:
        return f"unsafe({a})" if unsafe_attrs else a
    return (
        EXIT_GUARD.replace("@NO_MANGLE@", attr("no_mangle"))
        .replace("@LINK_SECTION_INIT@", attr('link_section = ".init_array"'))
        .replace("@LINK_SECTION_FINI@", attr('link_section = ".fini_array"'))
        .replace("@EXTERN@", "unsafe extern" if unsafe_attrs else "extern")
        .replace("@DONE_AT_START@", "false" if main_style else "true")
        .replace("@MESSAGE@", TAMPER_MESSAGE)
        .replace("@TAMPER@", str(TAMPER_EXIT))
        .replace("@END@", END_TAG)
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


# What changes meaning when a sample becomes a module of a shared crate (see performance notes):
# crate-relative paths, crate attributes, exported symbols/macros, file-relative macros, out-of-line modules.
_NOT_BATCHABLE = re.compile(
    r"crate::|\$crate|#!\s*\[|no_mangle|export_name|link_section|macro_export|module_path!|file!|"
    r"\bmod\s+\w+\s*;|extern\s+crate|#\s*\[\s*path\b|\bsuper::|__heval"
)


@dataclasses.dataclass(frozen=True)
class Program:
    source: str  # the whole program, exit guard included: what a standalone build compiles
    style: str  # "libtest" | "main"
    edition: str
    expected_tests: Tuple[str, ...]
    body: str = ""  # the program without the exit guard: what becomes one module of a batch crate
    batchable: bool = False
    proof: bool = True  # the exit guard prints an end-of-run proof (x86_64 Linux)

    @functools.cached_property
    def key(self) -> str:
        """Content hash: identical programs (same source, style, edition) share one build and one run."""
        h = hashlib.sha256()
        for part in (self.style, self.edition, self.source):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()


def assemble(problem: Problem, completion: str, edition: str | None = None, unsafe_attrs: bool = True) -> Program:
    style = problem.style
    # SEPARATOR takes any attribute the completion leaves dangling (`#[cfg(any())]`), which would
    # otherwise land on the problem's test module and remove it
    # (main style needs none: its test text starts by closing the completion's function, and a
    # separator there would end the completion's tail expression)
    sep = SEPARATOR if style == "libtest" else "\n"
    test = harden_test(problem.test)
    wrapped = style == "main" and len(_USER_MAIN.findall(test)) == 1
    if wrapped:
        test = _USER_MAIN.sub("fn __heval_user_main() {", test) + MAIN_WRAPPER
    body = problem.head + completion + sep + test + "\n"
    source = body + exit_guard(unsafe_attrs, main_style=wrapped)
    # the test text is the dataset's (its `use super::*` is fine inside a module); check the rest
    batchable = style == "libtest" and not _NOT_BATCHABLE.search(problem.head + completion)
    return Program(source, style, edition or problem.edition,
                   expected_tests(problem.test) if style == "libtest" else (), body, batchable, PROOF)
