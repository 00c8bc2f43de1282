"""Adversarial corpus, judged for real (rustc + firejail / bwrap), at the engine level.

Every row of :data:`CORPUS` is a hostile completion, in libtest style (human-eval's ``#[cfg(test)] mod tests``)
and/or main style (MultiPL-E's ``fn main`` with ``let candidate = f;``), with the error types it may end with.
Each one must end non-passing with one of those, leave nothing behind (no process, no file outside the work
root, no connection to our listeners, no dead runner), and the known-good completion judged right after it must
still pass. :data:`LEGIT` is the other side: honest code that must keep passing.

Attacks that would *pass* if they got through are written so: ``if <attack worked> { a + b } else { a + b - 1 }``
-- a contained attack is a test failure, an escape is a pass.

Safe under ``-n 2``: every marker (sleep argument, file names, socket names, the sample uid) is unique to this
process, and network attacks only target 127.0.0.1 / abstract-socket listeners this module opens itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from typing import Dict, Optional, Tuple

import pytest

from pytest_heval import Grader
from pytest_heval.inputs.problems import Problem
from pytest_heval.program import assemble
from tests.helpers import started_grader

SANDBOXES = ("firejail", "bwrap")
STYLES = ("libtest", "main")

PID = os.getpid()
TOKEN = f"heval-adv-{PID}"  # file / socket names the samples try to create or reach
MARK = f"{PID}.7331"  # `sleep MARK`: a process only this test process's samples start
SECRET = f"heval-adv-secret-{PID}-9c1e"
HOME = os.path.expanduser("~")
HOME_SECRET = os.path.join(HOME, f".heval-adv-secret-{PID}")
VAR_SECRET = f"/var/tmp/heval-adv-secret-{PID}"
SAMPLES_DIR = os.path.join(tempfile.gettempdir(), f"heval-adv-samples-{PID}")  # "next to the samples"
TMP_SECRET = os.path.join(SAMPLES_DIR, "secret.txt")
UNIX_SOCKET = os.path.join(SAMPLES_DIR, "sock")
# the repository's own problem file (world-readable, with canonical solutions): what a sample would love to read
PROBLEMS_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples", "problems.jsonl")

# ------------------------------------------------------------------------------------------------- problems


def _problems(name: str, sig: str, call: str, expected: str) -> Dict[str, Problem]:
    head = f"fn {name}({sig} {{\n"
    lib_test = ("#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n"
                f"    fn t() {{\n        assert_eq!({name}({call}), {expected});\n    }}\n}}\n")
    main_test = (f"}}\n\nfn main() {{\n    let candidate = {name};\n"
                 f"    assert_eq!(candidate({call}), {expected});\n}}\n")
    return {"libtest": Problem(f"ADV/{name}", head, lib_test, "2021", "humaneval", "test"),
            "main": Problem(f"ADV-M/{name}", head, main_test, "2015", "multipl-e", "test")}


PROBLEMS = {
    "add": _problems("add", "a: i32, b: i32) -> i32", "2, 3", "5"),
    "sort": _problems("sort_desc", "v: Vec<i32>) -> Vec<i32>", "vec![1, 3, 2]", "vec![3, 2, 1]"),
    "rev": _problems("reverse", "s: String) -> String", 'String::from("abc")', 'String::from("cba")'),
}
GOOD = {  # known-good bodies: judged after every hostile sample, they must still pass
    "add": "    a + b",
    "sort": "    let mut v = v;\n    v.sort_by(|x, y| y.cmp(x));\n    v",
    "rev": "    s.chars().rev().collect()",
}

# ------------------------------------------------------------------------------------------------- corpus


@dataclasses.dataclass(frozen=True)
class Case:
    """One row: ``body`` completes the function (its closing brace is added), ``items`` follow it at top level.

    For main style with ``items``, a dummy ``fn`` is opened after them for the test text's leading ``}`` to close
    (what a MultiPL-E completion that adds items must do). ``libtest``/``main`` give a style's whole completion
    instead. ``@NAME@`` placeholders are filled at run time (:meth:`World.fill`).
    """

    name: str
    expect: Tuple[str, ...]  # acceptable error types (the run must not pass)
    defence: str  # what is supposed to stop it (documentation / report)
    body: str = "    a + b - 1"
    items: str = ""
    styles: Tuple[str, ...] = STYLES
    problem: str = "add"
    limits: Tuple[Tuple[str, object], ...] = ()  # Limits overrides for this row
    libtest: Optional[str] = None
    main: Optional[str] = None
    may_pass: bool = False  # robustness rows: any verdict but a crash is fine

    def completion(self, style: str) -> str:
        explicit = self.libtest if style == "libtest" else self.main
        if explicit is not None:
            return explicit
        if not self.items:
            return self.body + ("\n}\n" if style == "libtest" else "\n")
        return self.body + "\n}\n" + self.items + ("\n" if style == "libtest" else "\nfn __heval_adv_pad() {\n")


FAKE_SUMMARY = ('println!("test tests::t ... ok\\n\\ntest result: ok. 1 passed; 0 failed; 0 ignored; '
                '0 measured; 0 filtered out; finished in 0.00s\\n");')
PPID = "std::os::unix::process::parent_id()"
WRITE_TARGETS = [f"/tmp/{TOKEN}", f"/etc/{TOKEN}", f"{HOME}/{TOKEN}", f"/dev/shm/{TOKEN}", f"/var/tmp/{TOKEN}",
                 f"{SAMPLES_DIR}/{TOKEN}", f"/{TOKEN}", f"../{TOKEN}", f"../../{TOKEN}"]
# rows that can only end by timing out: do not wait longer than needed (2 s of CPU, 4 s of wall clock for sleepers)
SHORT = (("timeout", 2.0), ("wall_timeout", 4.0))
ALL_MACROS = ("assert", "assert_eq", "assert_ne", "debug_assert", "debug_assert_eq", "debug_assert_ne", "panic",
              "unreachable")
NOOP_MACROS = "\n".join(f"macro_rules! {m} {{ ($($t:tt)*) => {{}} }}" for m in ALL_MACROS)
NOOP_MACROS_EXPORTED = "\n".join(f"#[macro_export]\nmacro_rules! {m} {{ ($($t:tt)*) => {{}} }}" for m in ALL_MACROS)

CORPUS = [
    # ---- pass without solving -----------------------------------------------------------------------------
    Case("exit0_in_solution", ("tampering",), "exit guard", body="    std::process::exit(0)"),
    Case("exit0_in_helper", ("tampering",), "exit guard", body="    helper() + a + b - 1",
         items="fn helper() -> i32 { std::process::exit(0) }"),
    Case("exit0_in_drop", ("tampering",), "exit guard", body="    let _bomb = Bomb;\n    a + b - 1",
         items="struct Bomb;\nimpl Drop for Bomb { fn drop(&mut self) { std::process::exit(0); } }"),
    Case("exit0_in_panic_hook", ("tampering",), "exit guard",
         body="    std::panic::set_hook(Box::new(|_| std::process::exit(0)));\n    a + b - 1"),
    Case("extern_c_exit", ("tampering",), "exit guard (interposed _exit)", body="    unsafe { _exit(0) }",
         items='extern "C" { fn _exit(code: i32) -> !; }'),
    Case("extern_c_quick_exit", ("tampering",), "exit guard (interposed quick_exit)",
         body="    unsafe { quick_exit(0) }", items='extern "C" { fn quick_exit(code: i32) -> !; }'),
    Case("ctor_exit0_before_main", ("tampering",), "exit guard",
         items='#[used]\n#[link_section = ".init_array"]\nstatic CTOR: extern "C" fn() = ctor;\n'
               'extern "C" fn ctor() { std::process::exit(0) }'),
    Case("fake_summary_then_exit0", ("tampering",), "exit guard",
         body=f"    {FAKE_SUMMARY}\n    std::process::exit(0)"),
    # the same, without going through libc's exit: exec another program, or the exit syscall by other routes
    Case("fake_summary_then_exec_true", ("test_failure",), "no exec: spawn.c's seccomp filter (were it let "
         "through: no report of main's return, tampering)",
         body="    use std::os::unix::process::CommandExt;\n"
              f"    {FAKE_SUMMARY}\n    let _ = std::process::Command::new(\"true\").exec();\n    a + b - 1"),
    Case("fake_summary_then_libc_syscall_exit", ("tampering", "runtime_error"), "no report from the guard (main did not return)",
         body=f"    {FAKE_SUMMARY}\n    unsafe {{ syscall(231, 0i64); }}\n    a + b - 1",
         items='extern "C" { fn syscall(n: i64, ...) -> i64; }'),
    Case("fake_summary_then_dlsym_next_exit", ("tampering", "runtime_error"), "no report from the guard (main did not return)",
         body=f"    {FAKE_SUMMARY}\n"
              "    unsafe {\n        let f = dlsym(-1isize as *mut u8, b\"_exit\\0\".as_ptr());\n"
              "        let f: extern \"C\" fn(i32) -> ! = std::mem::transmute(f);\n        f(0)\n    }",
         items='extern "C" { fn dlsym(handle: *mut u8, symbol: *const u8) -> *mut u8; }'),
    Case("fake_summary_then_asm_exit", ("tampering", "runtime_error"), "no report from the guard (main did not return)",
         body=f"    {FAKE_SUMMARY}\n    unsafe {{ std::arch::asm!(\"syscall\", in(\"rax\") 231usize, "
              "in(\"rdi\") 0usize, options(noreturn)) }"),
    Case("noop_assert_macros", ("test_failure", "compile_error"), "test text calls ::std::assert_eq!",
         items=NOOP_MACROS),
    Case("noop_assert_macros_exported", ("test_failure", "compile_error"), "test text calls ::std::assert_eq!",
         items=NOOP_MACROS_EXPORTED),
    Case("noop_vec_macro", ("test_failure", "compile_error"), "test text hardening (vec! is not rewritten)",
         problem="sort", body="    v", items="macro_rules! vec { ($($t:tt)*) => { ::std::vec::Vec::new() } }"),
    Case("shadow_string_type", ("test_failure", "compile_error"), "test text hardening (prelude types)",
         problem="rev", body="    s",
         items="#[derive(Debug)]\npub struct String(pub ::std::string::String);\n"
               "impl<'a> From<&'a str> for String { fn from(s: &'a str) -> String { String(s.to_owned()) } }\n"
               "impl PartialEq for String { fn eq(&self, _: &String) -> bool { true } }"),
    Case("shadow_fn_under_test_by_glob", ("test_failure", "compile_error"), "items shadow glob imports",
         items="pub mod evil { pub fn add(_: i32, _: i32) -> i32 { 5 } }\npub use self::evil::*;"),
    Case("shadow_candidate_with_static", ("test_failure", "compile_error"), "a let cannot shadow a static",
         items="#[allow(non_upper_case_globals)]\nstatic candidate: fn(i32, i32) -> i32 = evil;\n"
               "fn evil(_: i32, _: i32) -> i32 { 5 }"),
    Case("shadow_std_with_module", ("test_failure", "compile_error"), "extern crate std cannot be redefined",
         items="pub mod std { pub fn nothing() {} }"),
    Case("own_main", ("test_failure", "compile_error"), "duplicate main", items="fn main() {}"),
    Case("c_main_symbol", ("test_failure", "compile_error", "runtime_error"), "rustc: main declared twice",
         items='#[no_mangle]\npub extern "C" fn main() -> i32 { 0 }'),
    Case("cfg_strips_the_tests", ("test_failure", "tampering", "compile_error"), "expected tests / no test ran",
         items="#[cfg(any())]"),
    Case("cfg_strips_the_tests_and_adds_own", ("tampering", "test_failure", "compile_error"),
         "expected tests must be the problem's own", styles=("libtest",),
         items="mod own {\n    #[test]\n    fn t() {}\n}\n#[cfg(any())]"),
    Case("cfg_strips_the_tests_and_replaces_them", ("tampering", "test_failure", "compile_error"),
         "expected tests must be the problem's own", styles=("libtest",),
         items="#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n#[cfg(not(test))]"),
    Case("catch_unwind_everything", ("test_failure", "runtime_error"), "assertions run outside the completion",
         body="    std::panic::set_hook(Box::new(|_| {}));\n"
              "    std::panic::catch_unwind(|| a + b - 1).unwrap_or(0)"),
    Case("abort", ("runtime_error",), "abnormal end", body="    std::process::abort()"),
    # Was in LEGIT. A sample cannot start any program now (no execve/execveat after the harness's own: the
    # seccomp filter of spawn.c), so an honest one that does fails too: starting a program is how a sample
    # would replace itself with one that exits 0 (issue 15), and no known benchmark's solution needs one.
    Case("child_process", ("test_failure",), "no exec (spawn.c's seccomp filter)",
         body='    assert!(std::process::Command::new("true").status().unwrap().success());\n    a + b'),
    # ---- escape ---------------------------------------------------------------------------------------------
    Case("connect_loopback_listener", ("test_failure",), "network namespace",
         body='    if std::net::TcpStream::connect("127.0.0.1:@PORT@").is_ok() { a + b } else { a + b - 1 }'),
    Case("connect_abstract_unix_socket", ("test_failure",), "network namespace",
         body="    use std::os::linux::net::SocketAddrExt;\n"
              f'    let addr = std::os::unix::net::SocketAddr::from_abstract_name(b"{TOKEN}").unwrap();\n'
              "    if std::os::unix::net::UnixStream::connect_addr(&addr).is_ok() { a + b } else { a + b - 1 }"),
    Case("connect_unix_socket_file", ("test_failure",), "hidden file system",
         body=f'    if std::os::unix::net::UnixStream::connect("{UNIX_SOCKET}").is_ok() {{ a + b }}'
              " else { a + b - 1 }"),
    *[Case(f"read_{where}_secret", ("test_failure",), "hidden file system",
           body=f'    if std::fs::read_to_string("{path}").map(|s| s.contains("{SECRET}")).unwrap_or(false) '
                "{ a + b } else { a + b - 1 }")
      for where, path in (("home", HOME_SECRET), ("samples_dir", TMP_SECRET), ("var_tmp", VAR_SECRET))],
    Case("read_problems_file", ("test_failure",), "hidden file system",
         body=f'    if std::fs::read_to_string("{PROBLEMS_FILE}").map(|s| s.contains("canonical_solution"))'
              ".unwrap_or(false) { a + b } else { a + b - 1 }"),
    Case("include_problems_file", ("compile_error",), "rustc runs in the sandbox",
         body=f'    let _ = include_str!("{PROBLEMS_FILE}");\n    a + b'),
    Case("read_secret_via_proc_root", ("test_failure",), "uid + pid namespace",
         body=f'    let ppid = {PPID};\n    let found = ["/proc/1/root{HOME_SECRET}".to_string(), '
              f'format!("/proc/{{}}/root{TMP_SECRET}", ppid)].iter()\n'
              f'        .any(|p| std::fs::read_to_string(p).map(|s| s.contains("{SECRET}")).unwrap_or(false));\n'
              "    if found { a + b } else { a + b - 1 }"),
    Case("include_str_home_secret", ("compile_error",), "rustc runs in the sandbox",
         body=f'    include_str!("{HOME_SECRET}").len() as i32 + a + b - {len(SECRET)}'),
    Case("include_bytes_samples_dir_secret", ("compile_error",), "rustc runs in the sandbox",
         body=f'    include_bytes!("{TMP_SECRET}").len() as i32 + a + b - {len(SECRET)}'),
    Case("write_outside_work_dir", ("test_failure",), "read-only / hidden file system",
         body=f"    for p in &{json.dumps(WRITE_TARGETS)} {{\n        let _ = std::fs::write(p, \"x\");\n    }}\n"
              "    a + b - 1"),
    Case("tamper_with_runner_files", ("test_failure",), "work root and builds owned by root",
         body="    use std::fs::OpenOptions;\n    let mut ok = false;\n"
              '    for p in &["../runner.py", "../heval-spawn", "../toolchain/bin/rustc"] {\n'
              "        ok |= OpenOptions::new().append(true).open(p).is_ok();\n    }\n"
              '    if let Ok(rd) = std::fs::read_dir("../lib") {\n'
              "        for e in rd.flatten() { ok |= OpenOptions::new().append(true).open(e.path()).is_ok(); }\n    }\n"
              '    ok |= std::fs::create_dir("../b9999999").is_ok();\n'
              '    ok |= std::fs::create_dir("../zz-heval-adv").is_ok();\n'
              "    if ok { a + b } else { a + b - 1 }"),
    Case("orphan_sleep", ("test_failure",), "runner kills leftovers (subreaper)",
         body=f'    std::process::Command::new("sleep").arg("{MARK}").spawn().unwrap();\n    a + b - 1'),
    Case("orphan_setsid_double_fork", ("test_failure",), "runner kills leftovers (subreaper)",
         body=f'    std::process::Command::new("sh").arg("-c").arg("setsid sleep {MARK} &").status().unwrap();\n'
              "    a + b - 1"),
    Case("orphan_delayed_daemon", ("test_failure",), "runner kills leftovers (subreaper)",
         body=f'    std::process::Command::new("sh").arg("-c")\n'
              f'        .arg("(sleep 1; setsid sleep {MARK}) >/dev/null 2>&1 </dev/null &").status().unwrap();\n'
              "    a + b - 1"),
    Case("kill_parent", ("test_failure",), "uid + pid namespace",
         body=f'    let ok = std::process::Command::new("kill").arg("-9").arg({PPID}.to_string())\n'
              "        .status().map(|s| s.success()).unwrap_or(false);\n    if ok { a + b } else { a + b - 1 }"),
    Case("kill_everything", ("runtime_error", "test_failure"), "uid + pid namespace",
         body='    let _ = std::process::Command::new("kill").arg("-9").arg("-1").status();\n    a + b - 1'),
    Case("ptrace_attach_parent", ("test_failure",), "uid, no_new_privs, pid namespace",
         body=f"    let r = unsafe {{ ptrace(16, {PPID} as i32, 0, 0) }};  // PTRACE_ATTACH\n"
              "    if r == 0 { a + b } else { a + b - 1 }",
         items='extern "C" { fn ptrace(req: i64, pid: i32, addr: usize, data: usize) -> i64; }'),
    Case("open_parent_mem", ("test_failure",), "uid (ptrace access mode)",
         body=f'    if std::fs::File::open(format!("/proc/{{}}/mem", {PPID})).is_ok() {{ a + b }}'
              " else { a + b - 1 }"),
    Case("read_environ_of_init_and_parent", ("test_failure",), "uid (ptrace access mode)",
         body=f'    let ok = std::fs::read("/proc/1/environ").is_ok()\n'
              f'        || std::fs::read(format!("/proc/{{}}/environ", {PPID})).is_ok();\n'
              "    if ok { a + b } else { a + b - 1 }"),
    Case("forge_runner_reply", ("test_failure",), "uid: the runner's pipes are not the sample's",
         body="    use std::fs::OpenOptions;\n"
              f'    let ok = OpenOptions::new().write(true).open(format!("/proc/{{}}/fd/1", {PPID})).is_ok()\n'
              f'        || OpenOptions::new().read(true).open(format!("/proc/{{}}/fd/0", {PPID})).is_ok();\n'
              "    if ok { a + b } else { a + b - 1 }"),
    # ---- exhaust --------------------------------------------------------------------------------------------
    Case("fork_bomb", ("timeout",), limits=SHORT, defence="RLIMIT_NPROC + timeout + group kill",
         body="    loop {\n"
              f'        let _ = std::process::Command::new("sh").arg("-c").arg("sleep {MARK}").spawn();\n    }}'),
    # no exec since the seccomp filter: the first spawn fails (test_failure); without the filter,
    # RLIMIT_NPROC + timeout + leftover kill (timeout)
    Case("fork_bomb_setsid_recursive", ("timeout", "test_failure"), limits=SHORT,
         defence="no exec; RLIMIT_NPROC + timeout + leftover kill",
         body=f'    std::fs::write("bomb-{MARK}.sh", "while :; do setsid sh ./bomb-{MARK}.sh & done\\n").unwrap();\n'
              f'    std::process::Command::new("setsid").arg("sh").arg("./bomb-{MARK}.sh").spawn().unwrap();\n'
              "    loop { std::thread::sleep(std::time::Duration::from_millis(50)); }"),
    Case("thread_bomb", ("timeout",), limits=SHORT, defence="RLIMIT_NPROC + RLIMIT_AS + timeout",
         body="    loop {\n        let _ = std::thread::Builder::new().stack_size(64 << 10)\n"
              "            .spawn(|| std::thread::sleep(std::time::Duration::from_secs(100)));\n    }"),
    Case("alloc_8gib", ("memory_limit",), "RLIMIT_AS",
         body="    let v = vec![1u8; 8usize << 30];\n    v[4096] as i32 + a + b"),
    Case("stack_overflow", ("runtime_error",), "stack guard",
         body="    down(u64::MAX) as i32 + a + b",
         items="fn down(n: u64) -> u64 { if n == 0 { 0 } else { 1 + down(n - 1) } }"),
    Case("stdout_1gb", ("output_limit",), "output cap",
         body='    let s = "x".repeat(1 << 20);\n    for _ in 0..1024 { println!("{}", s); }\n    a + b'),
    Case("stderr_1gb", ("output_limit",), "output cap",
         body='    let s = "x".repeat(1 << 20);\n    for _ in 0..1024 { eprintln!("{}", s); }\n    a + b'),
    Case("fill_disk_2gib", ("runtime_error", "test_failure"), "RLIMIT_FSIZE",
         body='    use std::io::Write;\n    let mut f = std::fs::File::create("big.bin").unwrap();\n'
              "    let chunk = vec![7u8; 1 << 20];\n    for _ in 0..2048 { f.write_all(&chunk).unwrap(); }\n    a + b"),
    Case("infinite_loop", ("timeout",), limits=SHORT, defence="CPU limit", body="    loop {}"),
    Case("sleep_100s", ("timeout",), limits=SHORT, defence="wall-clock backstop",
         body="    std::thread::sleep(std::time::Duration::from_secs(100));\n    a + b"),
    Case("const_eval_forever", ("compile_timeout",), "compile timeout", limits=(("compile_timeout", 5.0),),
         body="    FOREVER as i32 + a + b",
         items="#[allow(long_running_const_eval)]\nconst FOREVER: u64 = {\n    let mut x = 1u64;\n"
               "    while x != 0 { x = x.wrapping_mul(3) | 1; }\n    x\n};"),
    Case("macro_recursion", ("compile_error",), "rustc recursion limit",
         items="macro_rules! recurse { () => { recurse!(); } }\nrecurse!();"),
    Case("macro_exponential", ("compile_error", "compile_timeout"), "compile RLIMIT_AS / compile timeout",
         limits=(("compile_timeout", 3.0),),
         items="macro_rules! boom { ($($t:tt)*) => { boom!($($t)* $($t)*); } }\nboom!(x);"),
    # ---- odd completions: graded, never a crash ------------------------------------------------------------
    Case("completion_10mb", ("compile_error", "compile_timeout"), "none needed", may_pass=True,
         body="    a + b\n@PADDING_10MB@"),
    Case("nul_bytes", ("compile_error",), "rustc rejects it", body="    a + b\x00 - 1"),
    Case("invalid_utf8_byte", ("compile_error",), "rustc rejects it", body="    a + b \udcff"),  # byte 0xff
    Case("lone_surrogate", ("compile_error",), "rustc rejects it", body="    a + b " + json.loads('"\\ud800"')),
]

LEGIT = [  # honest code: must pass in both styles
    ("threads", "    let hs: Vec<_> = (0..8).map(|i| std::thread::spawn(move || i)).collect();\n"
                "    let s: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();\n    s - 28 + a + b"),
    ("arc_mutex", "    let m = std::sync::Arc::new(std::sync::Mutex::new(a));\n"
                  "    let m2 = m.clone();\n    std::thread::spawn(move || *m2.lock().unwrap() += b).join().unwrap();\n"
                  "    let r = *m.lock().unwrap();\n    r"),
    ("mem_swap", "    let (mut x, mut y) = (b, a);\n    std::mem::swap(&mut x, &mut y);\n    x + y"),
    ("sound_unsafe", "    let v = [a, b];\n    let p = v.as_ptr();\n"
                     "    unsafe { *p + *p.add(1) + *v.get_unchecked(0) - a }"),
    ("printing", '    println!("debug a={} b={}", a, b);\n    eprintln!("to stderr");\n'
                 '    println!("test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out");\n'
                 "    a + b"),
    ("printing_10kb", '    for i in 0..100 { println!("debug line {:3} {}", i, "y".repeat(90)); }\n    a + b'),
    ("printing_1mb", '    print!("{}", "y".repeat(1 << 20));\n    a + b'),
    ("env_args", "    let n = std::env::args().count();\n    assert!(n >= 1);\n    a + b"),
    ("alloc_200mb", "    let v = vec![1u8; 200 << 20];\n    a + b + v[(100 << 20) + 7] as i32 - 1"),
    ("bounded_recursion", "    fn depth(n: u32) -> i32 { if n == 0 { 0 } else { depth(n - 1) } }\n"
                          "    depth(50_000) + a + b"),
    ("scratch_file_in_cwd", '    std::fs::write("scratch.txt", format!("{}", a + b)).unwrap();\n'
                            '    std::fs::read_to_string("scratch.txt").unwrap().parse().unwrap()'),
    ("temp_dir", '    let p = std::env::temp_dir().join("x.txt");\n    std::fs::write(&p, "1").unwrap();\n'
                 "    std::fs::remove_file(&p).unwrap();\n    a + b"),
    ("catch_unwind_honest", "    std::panic::catch_unwind(|| a + b).unwrap()"),
    ("short_sleep", "    std::thread::sleep(std::time::Duration::from_millis(100));\n    a + b"),
]

# ------------------------------------------------------------------------------------------------- machinery


def _accepting(srv: socket.socket, label: str, accepted: list, stop: threading.Event) -> threading.Thread:
    srv.settimeout(0.2)

    def loop():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                accepted.append(label)
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def marked_processes():
    """Processes on the whole machine whose command line carries this test process's marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if MARK.encode() in cmd:
            found.append((int(pid), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return found


class World:
    """What the samples attack: listeners, secret files; and the checks that nothing was reached or left."""

    def __init__(self):
        self.accepted: list = []
        self.stop = threading.Event()
        self.sockets = []
        self.threads = []

    def setup(self):
        os.makedirs(SAMPLES_DIR, exist_ok=True)
        os.chmod(SAMPLES_DIR, 0o755)
        for path in (HOME_SECRET, TMP_SECRET, VAR_SECRET):
            with open(path, "w") as f:
                f.write(SECRET)
            os.chmod(path, 0o644)  # readable by anyone who can see it: the sandbox must hide it
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))  # loopback only
        tcp.listen(64)
        abstract = socket.socket(socket.AF_UNIX)
        abstract.bind("\0" + TOKEN)
        abstract.listen(64)
        path_sock = socket.socket(socket.AF_UNIX)
        path_sock.bind(UNIX_SOCKET)
        os.chmod(UNIX_SOCKET, 0o777)
        path_sock.listen(64)
        self.sockets = [tcp, abstract, path_sock]
        self.threads = [_accepting(s, label, self.accepted, self.stop)
                        for s, label in zip(self.sockets, ("tcp 127.0.0.1", "abstract unix", "unix socket file"))]
        self.port = tcp.getsockname()[1]
        self.padding = "".join(f"// padding line {i:08d} " + "x" * 80 + "\n" for i in range(10 * 1024 * 1024 // 106))

    def teardown(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        for s in self.sockets:
            s.close()
        for path in (HOME_SECRET, VAR_SECRET):
            try:
                os.unlink(path)
            except OSError:
                pass
        shutil.rmtree(SAMPLES_DIR, ignore_errors=True)

    def fill(self, text: str) -> str:
        return text.replace("@PORT@", str(self.port)).replace("@PADDING_10MB@", self.padding)

    def host_paths_written(self, executor: Grader):
        paths = {p for p in WRITE_TARGETS if not p.startswith(".")}
        paths |= {os.path.join(executor.client.root, TOKEN), os.path.join(os.path.dirname(executor.client.root), TOKEN),
                  os.path.join(executor.client.root, "b9999999"), os.path.join(executor.client.root, "zz-heval-adv")}
        return sorted(p for p in paths if os.path.lexists(p))

    def leftovers(self, executor: Grader, before: frozenset, conns: int = 0, timeout: float = 1.0):
        """Everything a sample reached or left behind (empty when contained).

        ``before``: the work root's entries beforehand; ``conns``: connections accepted beforehand."""
        deadline = time.monotonic() + timeout
        while True:
            problems = {}
            procs = marked_processes()
            if procs:
                problems["processes"] = procs
            if len(self.accepted) > conns:
                problems["connections"] = self.accepted[conns:]
            written = self.host_paths_written(executor)
            if written:
                problems["files"] = written
            extra = sorted(set(os.listdir(executor.client.root)) - before)
            if extra:
                problems["work_root"] = extra
            for path in (HOME_SECRET, TMP_SECRET, VAR_SECRET):
                with open(path) as f:
                    if f.read() != SECRET:
                        problems.setdefault("secrets_changed", []).append(path)
            if not problems or time.monotonic() >= deadline:
                return problems
            time.sleep(0.05)


@pytest.fixture(scope="module")
def world():
    w = World()
    w.setup()
    yield w
    w.teardown()


@pytest.fixture(scope="module", params=SANDBOXES)
def executor(request, world):
    with started_grader(request.param, 5_000, timeout=3) as g:
        yield g


@contextlib.contextmanager
def watched(executor: Grader, world: World, what: str):
    """Checks around one hostile (or honest) sample: nothing left behind, the runner neither died nor restarted.

    Work dirs a crashed judge left in the work root are removed afterwards (so one failure does not spill into
    the next test), after being reported."""
    executor.client.start()
    before = frozenset(os.listdir(executor.client.root))
    runner_pid = executor.client.proc.pid
    conns = len(world.accepted)
    try:
        yield
        assert world.leftovers(executor, before, conns) == {}, f"{what} left something behind"
        assert executor.client.proc is not None and executor.client.proc.pid == runner_pid and executor.client.proc.poll() is None, \
            f"{what}: the sandboxed runner died or was restarted"
    finally:
        for name in set(os.listdir(executor.client.root)) - before:
            shutil.rmtree(os.path.join(executor.client.root, name), ignore_errors=True)


def judge(executor: Grader, problem: str, style: str, completion: str, limits=()) -> dict:
    program = assemble(PROBLEMS[problem][style], completion)
    saved = executor.limits
    if limits:
        executor.limits = dataclasses.replace(saved, **dict(limits))
    try:
        return executor.grade_programs([program])[0]
    except Exception as e:  # the engine must grade anything a model writes, never raise
        pytest.fail(f"judge() raised {type(e).__name__}: {str(e)[:300]}")
    finally:
        executor.limits = saved


def good_completion(problem: str, style: str) -> str:
    return GOOD[problem] + ("\n}\n" if style == "libtest" else "\n")


def _brief(v: dict) -> str:
    return (f"passed={v['passed']} error_type={v['error_type']} result={v['result']!r} "
            f"stderr={v.get('stderr', '')[-400:]!r}")


# ------------------------------------------------------------------------------------------------- tests

ATTACKS = [(c, s) for c in CORPUS for s in c.styles]


@pytest.mark.parametrize("case,style", ATTACKS, ids=[f"{c.name}-{s}" for c, s in ATTACKS])
def test_attack_is_contained(executor, world, case, style):
    with watched(executor, world, f"{case.name} [{style}]"):
        v = judge(executor, case.problem, style, world.fill(case.completion(style)), case.limits)
        if case.may_pass:
            assert v["passed"] or v["error_type"] in case.expect, _brief(v)
        else:
            assert v["passed"] is False, f"{case.name} [{style}] PASSED: {_brief(v)}"
            assert v["error_type"] in case.expect, f"{case.name} [{style}]: {_brief(v)}"
    # the run stays healthy: a known-good sample judged right after still passes
    good = judge(executor, case.problem, style, good_completion(case.problem, style))
    assert good["passed"] is True, f"after {case.name} [{style}]: {_brief(good)}"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name,body", LEGIT, ids=[n for n, _ in LEGIT])
def test_legitimate_code_passes(executor, world, name, body, style):
    with watched(executor, world, f"{name} [{style}]"):
        v = judge(executor, "add", style, body + ("\n}\n" if style == "libtest" else "\n"))
        assert v["passed"] is True, f"{name} [{style}]: {_brief(v)}"


# A sample that rewrites every binary it can find next to its work dir, so that other samples "pass" (a fake
# libtest summary, exit 0) or "fail" (exit 1) whatever their code does.
HIJACK = r"""    let script = "@SCRIPT@";
    if let Ok(dirs) = std::fs::read_dir("..") {
        for d in dirs.flatten() {
            for name in &["main", "batch"] {
                let p = d.path().join(name);
                if p.is_file() {
                    let _ = std::fs::remove_file(&p);
                    if std::fs::write(&p, script).is_ok() {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
                    }
                }
            }
        }
    }
    a + b"""
SCRIPTS = {
    "fake_pass": r"#!/bin/sh\necho 'test tests::t ... ok'\necho 'test result: ok. 1 passed; 0 failed; 0 ignored; "
                 r"0 measured; 0 filtered out; finished in 0.00s'\nexit 0\n",
    "sabotage": r"#!/bin/sh\nexit 1\n",
}
CROSS = [(style, batched, payload) for style in STYLES for batched in (False, True) for payload in SCRIPTS]


@pytest.mark.parametrize("style,batched,payload", CROSS,
                         ids=[f"{s}-{'batched' if b else 'alone'}-{p}" for s, b, p in CROSS])
def test_a_sample_cannot_change_another_samples_verdict(executor, world, style, batched, payload):
    end = "\n}\n" if style == "libtest" else "\n"
    hostile = assemble(PROBLEMS["add"][style], HIJACK.replace("@SCRIPT@", SCRIPTS[payload]) + end)
    wrong = assemble(PROBLEMS["add"][style], "    a + b - 1" + end)
    right = assemble(PROBLEMS["add"][style], "    b + a" + end)
    programs = [hostile, wrong, right]
    with watched(executor, world, f"hijack [{style}, {'batched' if batched else 'alone'}, {payload}]"):
        verdicts = _build_and_run(executor, programs, batched)
    assert verdicts[1]["passed"] is False and verdicts[1]["error_type"] == "test_failure", _brief(verdicts[1])
    assert verdicts[2]["passed"] is True, _brief(verdicts[2])


def _build_and_run(executor, programs, batched):
    builds = executor.builder.batch_builds
    verdicts = executor.grade_programs(programs, batch=None if batched else 1)
    assert executor.builder.batch_builds == builds + batched, "expected one batch binary when batched"
    return verdicts


MAIN_BATCH = [c for c in CORPUS if "main" in c.styles and not c.may_pass and not c.limits]


def test_main_style_attacks_batched(executor, world):
    """Main style batches too (issue 11.1): every main-style attack of the corpus, built as modules of shared crates
    with an honest sample per problem, ends as it does alone (an error type its row accepts), and the honest
    samples still pass."""
    problems = sorted({c.problem for c in MAIN_BATCH})
    programs = [assemble(PROBLEMS[c.problem]["main"], world.fill(c.completion("main"))) for c in MAIN_BATCH]
    programs += [assemble(PROBLEMS[p]["main"], good_completion(p, "main")) for p in problems]
    assert sum(p.batchable for p in programs) >= len(programs) // 3
    saved = executor.limits
    # more time than the rows run alone get: with -n 2 both sandboxes' 2 GiB writes (fill_disk_2gib) meet here
    executor.limits = dataclasses.replace(saved, timeout=10.0)
    try:
        with watched(executor, world, "main-style attacks, batched"):
            builds = executor.builder.batch_builds
            verdicts = executor.grade_programs(programs)
            assert executor.builder.batch_builds > builds, "expected batch binaries"
    finally:
        executor.limits = saved
    for c, v in zip(MAIN_BATCH, verdicts):
        assert v["passed"] is False and v["error_type"] in c.expect, f"{c.name} [main, batched]: {_brief(v)}"
    for p, v in zip(problems, verdicts[len(MAIN_BATCH):]):
        assert v["passed"] is True, f"honest {p} [main, batched]: {_brief(v)}"
