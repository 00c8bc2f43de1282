"""The exit guard linked into every program, and the end-of-run proof it prints.

* It interposes the C library's ``exit``/``_exit``/``_Exit``/``quick_exit``: a call with status 0 from Rust code
  (``std::process::exit(0)`` in the solution, in a ``Drop``, in a panic hook...) ends the process with
  :data:`TAMPER_EXIT` instead. The normal end of a program (returning from ``main``; libtest returning after its
  summary) goes through glibc's internal exit path, which is not interposed, so it still exits 0. libtest's own
  failure exit (101) and every non-zero status pass through unchanged.
* Main style: the harness owns ``main`` (:data:`MAIN_WRAPPER`), so "reached the end of main" is known, not guessed.
"""

from __future__ import annotations

import functools
import platform
import re

TAMPER_EXIT = 86
TAMPER_MESSAGE = "heval: exit with status 0 before the end of the tests/main (refused)"

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
USER_MAIN = re.compile(r"\bfn\s+main\s*\(\s*\)\s*\{")


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
