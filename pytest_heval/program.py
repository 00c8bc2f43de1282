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
import hashlib
import re
from typing import Tuple

from .problems import Problem

TAMPER_EXIT = 86
TAMPER_MESSAGE = "heval: exit with status 0 before the end of the tests/main (refused)"

_ASSERT_MACROS = re.compile(
    r"(?<![\w:$!])\b(assert|assert_eq|assert_ne|debug_assert|debug_assert_eq|debug_assert_ne|"
    r"panic|unreachable|todo|unimplemented)(\s*)!"
)
_TEST_FN = re.compile(r"#\s*\[\s*test\s*\]\s*(?:#\s*\[[^\]]*\]\s*)*(?:pub\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")

EXIT_GUARD = r"""
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(dead_code, non_snake_case, unused_unsafe)]
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
}
"""


def exit_guard(unsafe_attrs: bool = True) -> str:
    """The guard module; ``unsafe_attrs`` selects ``#[unsafe(no_mangle)]`` (rustc >= 1.82, needed by edition 2024)."""
    return (
        EXIT_GUARD.replace("@NO_MANGLE@", "unsafe(no_mangle)" if unsafe_attrs else "no_mangle")
        .replace("@MESSAGE@", TAMPER_MESSAGE)
        .replace("@TAMPER@", str(TAMPER_EXIT))
    )


def harden_test(test: str) -> str:
    """Call the test's assertion macros by absolute path so a completion cannot shadow them."""
    return _ASSERT_MACROS.sub(lambda m: f"::std::{m.group(1)}{m.group(2)}!", test)


def expected_tests(test: str) -> Tuple[str, ...]:
    """Names of the ``#[test]`` functions the problem's test text defines."""
    return tuple(_TEST_FN.findall(test))


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

    @property
    def key(self) -> str:
        """Content hash: identical programs (same source, style, edition) share one build and one run."""
        h = hashlib.sha256()
        for part in (self.style, self.edition, self.source):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()


def assemble(problem: Problem, completion: str, edition: str | None = None, unsafe_attrs: bool = True) -> Program:
    style = problem.style
    body = problem.head + completion + "\n" + harden_test(problem.test) + "\n"
    source = body + exit_guard(unsafe_attrs)
    # the test text is the dataset's (its `use super::*` is fine inside a module); check the rest
    batchable = style == "libtest" and not _NOT_BATCHABLE.search(problem.head + completion)
    return Program(source, style, edition or problem.edition,
                   expected_tests(problem.test) if style == "libtest" else (), body, batchable)
