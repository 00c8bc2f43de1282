"""The exit guard linked into every program, and its report of main's return.

* It interposes the C library's ``exit``/``_exit``/``_Exit``/``quick_exit``: a call with status 0 from Rust code
  (``std::process::exit(0)`` in the solution, in a ``Drop``, in a panic hook...) ends the process with
  :data:`TAMPER_EXIT` instead. The normal end of a program (returning from ``main``; libtest returning after its
  summary) goes through glibc's internal exit path, which is not interposed, so it still exits 0. libtest's own
  failure exit (101) and every non-zero status pass through unchanged.
* It wraps the C-level ``main`` (the program is linked with ``-Wl,--wrap=main``: :data:`WRAP_MAIN`, see
  ``toolchain.GUARD_FLAGS``) and reports the status the harness-owned ``main`` (libtest's runner, or the problem's
  ``fn main``) returned on descriptor :data:`PROOF_FD`, a socket only the runner reads: a pass needs that report,
  so only that entry point returning counts as an end.
* Nothing in it is ``pub``: no path from a completion reaches its items.
"""

from __future__ import annotations

import functools
import platform

TAMPER_EXIT = 86
TAMPER_MESSAGE = "heval: exit with status 0 before the end of the tests/main (refused)"

EXIT_GUARD = r"""
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(dead_code, non_snake_case, non_upper_case_globals, unused_unsafe)]
mod __heval_exit_guard {
    // Nothing here is `pub`: no path from the completion reaches this module's items.
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
    extern "C" fn exit(code: i32) -> ! { __heval_die(code) }
    #[@NO_MANGLE@]
    extern "C" fn _exit(code: i32) -> ! { __heval_die(code) }
    #[@NO_MANGLE@]
    extern "C" fn _Exit(code: i32) -> ! { __heval_die(code) }
    #[@NO_MANGLE@]
    extern "C" fn quick_exit(code: i32) -> ! { __heval_die(code) }

    // Proof of a normal end: the program is linked with -Wl,--wrap=main, so the C runtime calls
    // __wrap_main instead of the harness-owned `main` (rustc's: libtest's runner, or the problem's
    // fn main), reached here as __real_main. When it returns, its status goes to descriptor @FD@, the
    // write end of a socket the runner gave this run: safe code has no way to write there (no raw
    // descriptors; /proc/self/fd/@FD@ of a socket cannot be opened). A run that ends any other way
    // (an exit from a thread, a raw exit system call, a signal) reports nothing and does not pass.
    // Raw system calls, not the C library's write/fcntl: those a completion could interpose.
    @EXTERN@ "C" {
        fn __real_main(argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32;
    }
    unsafe fn __heval_syscall3(nr: usize, a: usize, b: usize, c: usize) -> isize {
        let ret: isize;
        unsafe {
            ::std::arch::asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
                              lateout("rcx") _, lateout("r11") _, options(nostack))
        };
        ret
    }
    #[@NO_MANGLE@]
    extern "C" fn __wrap_main(argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
        unsafe { __heval_syscall3(72, @FD@, 2, 1) }; // fcntl(F_SETFD, FD_CLOEXEC): never inherited
        let rc = unsafe { __real_main(argc, argv, envp) };
        let mut line = [0u8; 64]; // "@PROOF@<rc>\n", without the allocator
        let tag = b"@PROOF@";
        line[..tag.len()].copy_from_slice(tag);
        let mut n = tag.len();
        let mut digits = [0u8; 12];
        let mut d = 0;
        let mut v = (rc as i64).unsigned_abs();
        loop {
            digits[d] = b'0' + (v % 10) as u8;
            d += 1;
            v /= 10;
            if v == 0 { break; }
        }
        if rc < 0 { line[n] = b'-'; n += 1; }
        while d > 0 { d -= 1; line[n] = digits[d]; n += 1; }
        line[n] = b'\n';
        unsafe { __heval_syscall3(1, @FD@, line.as_ptr() as usize, n + 1) }; // write
        rc
    }
}
"""

# the status a program's harness-owned main returned, as the guard reports it on PROOF_FD
PROOF_PREFIX = "heval: main returned "
PROOF_FD = 1022  # below the spawn helper's EXEC_FD (1023), which no sample descriptor can reach either
# link flag of every program that carries the guard: crt1's call of `main` goes to the guard's __wrap_main
WRAP_MAIN = "link-arg=-Wl,--wrap=main"
# the guard (and its end-of-run proof) is compiled in on x86_64 Linux only (its #[cfg]); the host is the target
PROOF = platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


@functools.lru_cache(maxsize=8)
def exit_guard(unsafe_attrs: bool = True) -> str:
    """The guard module; ``unsafe_attrs`` selects ``#[unsafe(no_mangle)]`` (rustc >= 1.82, needed by edition 2024)."""
    def attr(a: str) -> str:
        return f"unsafe({a})" if unsafe_attrs else a
    return (
        EXIT_GUARD.replace("@NO_MANGLE@", attr("no_mangle"))
        .replace("@EXTERN@", "unsafe extern" if unsafe_attrs else "extern")
        .replace("@MESSAGE@", TAMPER_MESSAGE)
        .replace("@TAMPER@", str(TAMPER_EXIT))
        .replace("@PROOF@", PROOF_PREFIX)
        .replace("@FD@", str(PROOF_FD))
    )
