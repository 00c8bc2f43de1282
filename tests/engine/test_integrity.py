"""Integrity of a verdict (issues 9 and 15), judged for real (rustc + firejail / bwrap), at the engine level.

Classes of attack, each written as a probe that *passes* if its channel works (``if <reached> { a + b } else
{ a + b - 1 }``), so a contained attack is a ``test_failure`` and an escape is a pass:

* **memory through the file system** (safe Rust): /proc/self/mem (read, write), /proc/<pid>/mem,
  /proc/thread-self/..., /proc/<pid>/task/<tid>/mem, /proc/self/environ, /proc/self/exe's contents.
  Defence: the binary is execute-only for the sample's uid, so the kernel runs it non-dumpable and those
  files are root's (spawn.c's filter refuses PR_SET_DUMPABLE, the way back).
* **the proof channel**: /proc/self/fd/N, /dev/fd/N... of the guard's report socket. Defence: a socket cannot
  be opened through /proc (ENXIO), and safe Rust has no raw descriptors.
* **another program**: exec, Command::spawn, execveat, x32/i386 system calls. Defence: spawn.c's seccomp filter.
* **ending without main's return**: exit from a thread, threads printing after the summary, and the issue's
  unsafe variants (signal handler + real exit via dlsym, .fini_array by hand + raw exit_group, the guard's
  items by path, a global_asm constructor). Defence: --wrap=main, the guard's report, private guard items.
* **state that outlives a sample**: kernel keyring, SysV shared memory / message queues, files dropped in any
  writable place. Defence: the filter, and nothing but the sample's own (deleted) work dir is writable.
* **other samples' files**: listing the work root, reading another build's binary by its real path, the
  runner's files. Defence: root 0711, build dirs 0711, binaries 0111, runner files 0600/0700.

Controls show that the probes are real: with one defence taken away (a readable binary, an unsealed run) the
same attack gets through.
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from pytest_heval import Grader
from pytest_heval.batch import Build
from pytest_heval.program import PROOF_FD, PROOF_PREFIX, Program, assemble
from pytest_heval.sandbox import runner
from pytest_heval.sandbox.spawn import install_spawner
from tests.engine.test_adversarial import (FAKE_SUMMARY, PROBLEMS, Case, _brief, good_completion,  # noqa: F401
                                          watched, world)  # world: the module-scoped fixture, shared
from tests.helpers import started_grader

SANDBOXES = ("firejail", "bwrap")
STYLES = ("libtest", "main")
PID = os.getpid()
KEY = f"heval-int-{PID}"  # keyring description, marker file names
SHM_KEY = 0x48450000 + PID % 0x10000  # SysV key
ROOT = os.geteuid() == 0

reached = "    if reached { a + b } else { a + b - 1 }"

MEM_PATHS = r"""    let me = std::process::id();
    let mut paths = vec!["/proc/self/mem".to_string(), "/proc/thread-self/mem".to_string(),
                         format!("/proc/{}/mem", me)];
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for t in rd.flatten() {
            paths.push(format!("/proc/{}/task/{}/mem", me, t.file_name().to_string_lossy()));
        }
    }
    // every mapping as a file (the binary's pages among them), and the auxiliary vector
    for line in std::fs::read_to_string("/proc/self/maps").unwrap_or_default().lines() {
        paths.push(format!("/proc/self/map_files/{}", line.split(' ').next().unwrap_or("")));
    }
    paths.push("/proc/self/auxv".to_string());
"""

# the same static flipped two ways: a writable page (an atomic) and a read-only one (what FOLL_FORCE allows)
FLIP_ITEMS = ("static FLAG: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);\n"
              "static RO: u8 = 0;")
FLIP = r"""    use std::io::{Seek, SeekFrom, Write};
    for addr in [&FLAG as *const _ as u64, std::hint::black_box(&RO) as *const u8 as u64] {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/proc/self/mem") {
            if f.seek(SeekFrom::Start(addr)).is_ok() {
                let _ = f.write(&[1]);
            }
        }
    }
    let reached = FLAG.load(std::sync::atomic::Ordering::SeqCst) == 1 || *std::hint::black_box(&RO) == 1;
"""

FD_PATHS = fr"""    use std::io::Write;
    let me = std::process::id();
    let mut paths: Vec<String> = ["/proc/self/fd/{PROOF_FD}", "/dev/fd/{PROOF_FD}", "/proc/thread-self/fd/{PROOF_FD}"]
        .iter().map(|s| s.to_string()).collect();
    paths.push(format!("/proc/{{}}/fd/{PROOF_FD}", me));
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {{
        for t in rd.flatten() {{
            paths.push(format!("/proc/{{}}/task/{{}}/fd/{PROOF_FD}", me, t.file_name().to_string_lossy()));
        }}
    }}
    let _ = std::os::unix::fs::symlink("/proc/self/fd/{PROOF_FD}", "link");
    paths.push("link".to_string());
    let mut reached = false;
    let line = b"{PROOF_PREFIX}0\n";
    for p in &paths {{
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(p) {{
            reached |= f.write_all(line).is_ok();
        }}
        // the socket as a socket: connect or send to it by path
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(p) {{
            reached |= s.write_all(line).is_ok();
        }}
        if let Ok(d) = std::os::unix::net::UnixDatagram::unbound() {{
            reached |= d.send_to(line, p).is_ok();
        }}
    }}
"""

SAFE = [
    # ---- memory through the file system (issue 15, 1 and 2) ------------------------------------------------
    Case("open_own_mem_any_path", ("test_failure",), "execute-only binary: non-dumpable",
         body=MEM_PATHS + "    let reached = paths.iter().any(|p| std::fs::File::open(p).is_ok()\n"
                          "        || std::fs::OpenOptions::new().write(true).open(p).is_ok());\n" + reached),
    Case("write_own_mem_flips_statics", ("test_failure",), "execute-only binary: non-dumpable",
         body=FLIP + reached, items=FLIP_ITEMS),
    Case("read_own_environ_exe_test_names", ("test_failure",), "non-dumpable, execute-only binary",
         body="    let exe = std::env::current_exe().map(|p| std::fs::read(p).is_ok()).unwrap_or(false);\n"
              "    let reached = exe || std::fs::read(\"/proc/self/exe\").is_ok()\n"
              "        || std::fs::read(\"/proc/self/environ\").is_ok();\n" + reached),
    # the whole attack of issue 15, 1: test names from the binary, a fake summary and proof, then exec /bin/true
    Case("fake_summary_proof_then_exec_true", ("test_failure",), "seccomp: no exec",
         body="    use std::os::unix::process::CommandExt;\n"
              "    let names = std::fs::read(\"/proc/self/exe\").is_ok();\n"
              f"    {FAKE_SUMMARY}\n    println!(\"{PROOF_PREFIX}0\");\n"
              "    let e = std::process::Command::new(\"/bin/true\").exec();\n"
              "    eprintln!(\"exec: {} (names read: {})\", e, names);\n    a * b"),
    # ---- the proof channel -------------------------------------------------------------------------------
    Case("write_proof_fd_by_path", ("test_failure",), "a socket cannot be opened through /proc",
         body=FD_PATHS + reached),
    # ---- another program ---------------------------------------------------------------------------------
    Case("command_spawn_any", ("test_failure",), "seccomp: no exec",
         body='    let reached = ["true", "/bin/true", "/bin/sh", "/usr/bin/env"].iter().any(|p| {\n'
              '        std::process::Command::new(p).arg("true").status().is_ok()\n'
              '            || std::process::Command::new(p).arg("true").output().is_ok()\n    });\n' + reached),
    Case("exec_shell_that_exits_3", ("test_failure",), "seccomp: no exec (exit 3 would be a runtime_error)",
         body="    use std::os::unix::process::CommandExt;\n"
              '    let _ = std::process::Command::new("/bin/sh").arg("-c").arg("exit 3").exec();\n    a + b - 1'),
    # ---- ending without main's return --------------------------------------------------------------------
    Case("exit0_from_thread_after_fake_summary", ("tampering",), "exit guard",
         body=f"    std::thread::spawn(|| {{ {FAKE_SUMMARY} std::process::exit(0) }});\n"
              "    std::thread::sleep(std::time::Duration::from_secs(2));\n    a * b"),
    Case("exit1_from_thread_after_fake_summary", ("runtime_error",), "no report from the guard, status 1",
         body=f"    std::thread::spawn(|| {{ {FAKE_SUMMARY} std::process::exit(1) }});\n"
              "    std::thread::sleep(std::time::Duration::from_secs(2));\n    a * b"),
    Case("thread_prints_summaries_after_the_real_one", ("test_failure", "runtime_error"), "exit status 101",
         body=f"    std::thread::spawn(|| loop {{ {FAKE_SUMMARY} println!(\"{PROOF_PREFIX}0\"); }});\n    a * b"),
    Case("panic_in_every_thread", ("test_failure", "runtime_error"), "exit status 101",
         body="    let _ = std::thread::spawn(|| panic!(\"x\")).join();\n"
              "    std::panic::set_hook(Box::new(|_| {}));\n    panic!(\"y\")"),
]

UNSAFE = [
    # issue 9, 1: a signal handler prints a fake summary and calls the C library's real exit (dlsym RTLD_NEXT)
    Case("signal_handler_real_exit_via_dlsym", ("tampering",), "no report: main did not return",
         items='extern "C" {\n    fn signal(sig: i32, h: extern "C" fn(i32)) -> usize;\n'
               "    fn alarm(s: u32) -> u32;\n    fn dlsym(handle: *mut u8, symbol: *const u8) -> *mut u8;\n}\n"
               'extern "C" fn handler(_: i32) {\n'
               f"    {FAKE_SUMMARY}\n"
               '    let f = unsafe { dlsym(-1isize as *mut u8, b"exit\\0".as_ptr()) };\n'
               '    let f: extern "C" fn(i32) -> ! = unsafe { std::mem::transmute(f) };\n    f(0)\n}',
         body="    unsafe { signal(14, handler); alarm(1); }\n"
              "    std::thread::sleep(std::time::Duration::from_secs(3));\n    a * b"),
    # issue 9, 2: every .fini_array function called by hand, then a raw exit_group(0)
    Case("fini_array_by_hand_then_raw_exit", ("tampering",), "no report: main did not return",
         items='extern "C" {\n    static __fini_array_start: [Option<extern "C" fn()>; 0];\n'
               '    static __fini_array_end: [Option<extern "C" fn()>; 0];\n}',
         body=f"    {FAKE_SUMMARY}\n    unsafe {{\n"
              "        let mut p = __fini_array_start.as_ptr();\n"
              "        while p < __fini_array_end.as_ptr() { if let Some(f) = *p { f(); } p = p.add(1); }\n"
              '        std::arch::asm!("syscall", in("rax") 231usize, in("rdi") 0usize, options(noreturn))\n    }'),
    # issue 9, 4: a constructor in .init_array by global_asm!, before the guard; fake summary + proof, raw exit
    Case("global_asm_init_array_constructor", ("tampering",), "no report: main did not return",
         items='std::arch::global_asm!(".pushsection .init_array,\\"aw\\"", ".balign 8", ".quad {f}", ".popsection",'
               " f = sym ctor);\n"
               'extern "C" fn ctor() {\n'
               '    let seen: Vec<String> = std::env::vars().map(|(k, v)| format!("{}={}", k, v)).collect();\n'
               f"    {FAKE_SUMMARY}\n    println!(\"{PROOF_PREFIX}0 {{}}\", seen.len());\n"
               '    unsafe { std::arch::asm!("syscall", in("rax") 231usize, in("rdi") 0usize, options(noreturn)) }\n}'),
    # the seal's own door: EXEC_FD (1023), above RLIMIT_NOFILE
    Case("execveat_on_the_helpers_fd_number", ("test_failure",), "RLIMIT_NOFILE <= 1023, hard too",
         items='extern "C" {\n    fn open(p: *const u8, flags: i32, ...) -> i32;\n'
               "    fn dup2(a: i32, b: i32) -> i32;\n    fn setrlimit(r: i32, l: *const [u64; 2]) -> i32;\n"
               "    fn syscall(n: i64, ...) -> i64;\n}",
         body="    let lim = [4096u64, 4096u64];\n    let raised = unsafe { setrlimit(7, &lim) } == 0;\n"
              '    let fd = unsafe { open(b"/bin/false\\0".as_ptr(), 0o10000000) };\n'
              "    let dup = unsafe { dup2(fd, 1023) } == 1023;\n"
              '    let argv = [b"false\\0".as_ptr(), std::ptr::null()];\n    let envp = [std::ptr::null::<u8>()];\n'
              '    let r = unsafe { syscall(322, 1023i64, b"\\0".as_ptr(), argv.as_ptr(), envp.as_ptr(), 0x1000i64) };\n'
              "    let reached = raised || dup || r == 0;\n" + reached),
    Case("x32_execve", ("test_failure",), "seccomp: x32 numbers refused",
         body='    let argv = [b"/bin/false\\0".as_ptr(), std::ptr::null()];\n    let envp = [std::ptr::null::<u8>()];\n'
              "    let r: isize;\n    unsafe { std::arch::asm!(\"syscall\", inlateout(\"rax\") 0x4000_0000usize + 520 => r,\n"
              '        in("rdi") argv[0], in("rsi") argv.as_ptr(), in("rdx") envp.as_ptr(),\n'
              '        lateout("rcx") _, lateout("r11") _) };\n    let reached = r == 0;\n' + reached),
    Case("i386_int80", ("runtime_error",), "seccomp: another ABI ends the process (SIGSYS)",
         body='    unsafe { std::arch::asm!("int 0x80", inlateout("eax") 20u32 => _) };  // getpid\n    a + b'),
    Case("set_dumpable_then_write_own_mem", ("test_failure",), "seccomp: PR_SET_DUMPABLE refused",
         items='extern "C" { fn prctl(o: i32, a: u64, b: u64, c: u64, d: u64) -> i32; }\n' + FLIP_ITEMS,
         body="    let set = unsafe { prctl(4, 1, 0, 0, 0) } == 0;\n" + FLIP.replace("let reached =", "let flipped =")
              + "    let reached = set || flipped;\n" + reached),
]

# issue 9, 3: the guard's items by path (the old pub static DONE): nothing there is public
BY_PATH = [
    Case("guard_items_by_path", ("compile_error",), "nothing in the guard is pub",
         body="    crate::__heval_exit_guard::__wrap_main(0, std::ptr::null(), std::ptr::null());\n    a * b"),
    Case("guard_exit_by_path", ("compile_error",), "nothing in the guard is pub",
         body="    __heval_exit_guard::exit(0)"),
]

ATTACKS = [(c, s) for c in SAFE + UNSAFE + BY_PATH for s in c.styles]


@pytest.fixture(scope="module", params=SANDBOXES)
def executor(request, world):
    with started_grader(request.param, 400_000, timeout=4) as g:
        yield g


def judge(executor: Grader, style, completion, problem="add"):
    return executor.grade_programs([assemble(PROBLEMS[problem][style], completion)])[0]


@pytest.mark.parametrize("case,style", ATTACKS, ids=[f"{c.name}-{s}" for c, s in ATTACKS])
def test_attack_is_contained(executor, world, case, style):
    with watched(executor, world, f"{case.name} [{style}]"):
        v = judge(executor, style, case.completion(style))
        assert v["passed"] is False, f"{case.name} [{style}] PASSED: {_brief(v)}"
        assert v["error_type"] in case.expect, f"{case.name} [{style}]: {_brief(v)}"
        if case.name == "i386_int80":
            assert v["signal"] == signal.SIGSYS, _brief(v)
    good = judge(executor, style, good_completion("add", style))
    assert good["passed"] is True, f"after {case.name} [{style}]: {_brief(good)}"


def _built(executor: Grader, style, completion):
    """A program built (alone) and not yet run: run it with :func:`run_built`, remove ``b.dir`` when done."""
    p = assemble(PROBLEMS["add"][style], completion)
    b = executor.builder.build([p])[p.key]
    assert b.ok, b.verdict
    return p, b


def run_built(executor: Grader, p: Program, b: Build):
    """One more run of a built program (the Grader's own step after a build)."""
    return executor._run(p, b)


MODE_DEFENDED = ("open_own_mem_any_path", "write_own_mem_flips_statics", "read_own_environ_exe_test_names")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", MODE_DEFENDED)
def test_control_a_readable_binary_lets_the_attack_through(executor, world, style, name):
    """The defence of the /proc rows is the binary's mode: made readable (dumpable again), the same attack passes."""
    case = next(c for c in SAFE if c.name == name)
    p, b = _built(executor, style, case.completion(style))
    try:
        assert run_built(executor, p, b)["passed"] is False
        os.chmod(b.exe, 0o755)  # dumpable again
        forged = run_built(executor, p, b)
        assert forged["passed"] is True, f"the probe itself is broken: {_brief(forged)}"
    finally:
        shutil.rmtree(b.dir, ignore_errors=True)


def test_control_an_unsealed_run_can_exec(executor, world):
    """The same shell, sealed then not: the filter is what stops the exec."""
    c = executor.client
    d = c.new_dir()
    try:
        req = {"argv": ["/bin/sh", "-c", "/bin/echo ESCAPED"], "cwd": d, "env": c.env(d), "timeout": 10,
               "uid": c.uid, "nofile": 1023}
        sealed = c.request(dict(req, seal=True))
        assert sealed.get("rc") != 0 and "ESCAPED" not in sealed["stdout"], sealed
        assert "Operation not permitted" in sealed["stderr"], sealed
        assert "ESCAPED" in c.request(dict(req))["stdout"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


# the kernel objects of the state rows, made and removed at once (nothing left on the host if it works):
# which calls worked, as the sample's uid, sealed or not
KERNEL_PROBE = r"""
my @o;
my ($t, $d, $p) = ("user", "heval-probe", "x");  # variables: perl passes strings as writable buffers
my $k = syscall(248, $t, $d, $p, 1, -2);  # add_key to the process keyring (dies with it)
push @o, "add_key=" . ($k > 0 ? 1 : 0);
my $s = syscall(29, 0, 4096, 0600);  # shmget(IPC_PRIVATE), removed at once
push @o, "shmget=" . ($s >= 0 ? 1 : 0);
syscall(31, $s, 0, 0) if $s >= 0;
my $m = syscall(68, 0, 0600);  # msgget(IPC_PRIVATE), removed at once
push @o, "msgget=" . ($m >= 0 ? 1 : 0);
syscall(71, $m, 0, 0) if $m >= 0;
print join(" ", @o), "\n";
"""


def test_control_an_unsealed_run_reaches_the_keyring_and_ipc(executor, world):
    """The state rows are real: unsealed, the same uid gets a key, a shared memory segment and a message queue."""
    c = executor.client
    d = c.new_dir()
    try:  # perl: in every Debian (perl-base), with a syscall() of its own
        req = {"argv": ["/usr/bin/perl", "-e", KERNEL_PROBE], "cwd": d, "env": c.env(d),
               "timeout": 20, "uid": c.uid, "nofile": 1023}
        assert c.request(dict(req, seal=True))["stdout"].split() == ["add_key=0", "shmget=0", "msgget=0"]
        assert c.request(dict(req))["stdout"].split() == ["add_key=1", "shmget=1", "msgget=1"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------------------------------ state and files

KEYRING_STORE = (
    'extern "C" { fn syscall(n: i64, ...) -> i64; }\n'
    "fn store() -> bool {\n"
    f'    let (t, d, p) = (b"user\\0", b"{KEY}\\0", b"secret");\n'
    "    let a = unsafe { syscall(248, t.as_ptr(), d.as_ptr(), p.as_ptr(), p.len(), -4i64) } > 0;  // user keyring\n"
    "    let b = unsafe { syscall(248, t.as_ptr(), d.as_ptr(), p.as_ptr(), p.len(), -3i64) } > 0;  // user session\n"
    "    let c = unsafe { syscall(248, t.as_ptr(), d.as_ptr(), p.as_ptr(), p.len(), -2i64) } > 0;  // process\n"
    f"    let shm = unsafe {{ syscall(29, {SHM_KEY}i64, 4096i64, 0o1666i64) }} >= 0;  // shmget IPC_CREAT\n"
    f"    let msg = unsafe {{ syscall(68, {SHM_KEY + 1}i64, 0o1666i64) }} >= 0;  // msgget IPC_CREAT\n"
    '    let mq = unsafe { syscall(240, b"heval-int\\0".as_ptr(), 0o100i64 | 2, 0o666i64, 0i64) } >= 0;  // mq_open\n'
    # a child (fork: native code only) that would outlive the sample, holding an abstract socket
    "    let held = unsafe { fork() } == 0;\n"
    "    if held {\n"
    "        use std::os::linux::net::SocketAddrExt;\n"
    f'        let addr = std::os::unix::net::SocketAddr::from_abstract_name(b"{KEY}-child").unwrap();\n'
    "        let _l = std::os::unix::net::UnixListener::bind_addr(&addr);\n"
    "        std::thread::sleep(std::time::Duration::from_secs(30));\n"
    "        unsafe { _exit(1) }\n    }\n"
    "    a || b || c || shm || msg || mq\n}\n"
    'extern "C" { fn fork() -> i32; fn _exit(c: i32) -> !; }')
KEYRING_FIND = (
    'extern "C" { fn syscall(n: i64, ...) -> i64; }\n'
    "fn find() -> bool {\n"
    f'    let (t, d) = (b"user\\0", b"{KEY}\\0");\n'
    "    let keyring = [-4i64, -3, -2].iter().any(|&r| unsafe { syscall(250, 10i64, r, t.as_ptr(), d.as_ptr(), 0i64) } >= 0)\n"
    "        || unsafe { syscall(249, t.as_ptr(), d.as_ptr(), 0i64, 0i64) } >= 0;  // request_key\n"
    f"    let shm = unsafe {{ syscall(29, {SHM_KEY}i64, 0i64, 0i64) }} >= 0;\n"
    f"    let msg = unsafe {{ syscall(68, {SHM_KEY + 1}i64, 0i64) }} >= 0;\n"
    '    let mq = unsafe { syscall(240, b"heval-int\\0".as_ptr(), 0i64, 0i64, 0i64) } >= 0;\n'
    "    use std::os::linux::net::SocketAddrExt;\n"
    f'    let addr = std::os::unix::net::SocketAddr::from_abstract_name(b"{KEY}-child").unwrap();\n'
    "    let child = std::os::unix::net::UnixStream::connect_addr(&addr).is_ok();\n"
    "    keyring || shm || msg || mq || child\n}")

DROP_DIRS = ["/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock", "/var/lock", "/dev", "/", "..", "../lib",
             "../toolchain", "/proc/self/cwd/..", "/usr/local"]
FILE_STORE = ("fn store() -> bool {\n"
              f"    {DROP_DIRS!r}.iter().map(|d| std::fs::write(format!(\"{{}}/{KEY}\", d), \"x\").is_ok())"
              ".fold(false, |x, y| x | y)\n}").replace("['", '["').replace("']", '"]').replace("', '", '", "')
FILE_FIND = ("fn find() -> bool {\n"
             f"    {DROP_DIRS!r}.iter().any(|d| std::path::Path::new(&format!(\"{{}}/{KEY}\", d)).exists())\n}}"
             ).replace("['", '["').replace("']", '"]').replace("', '", '", "')


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", ["kernel", "files"])
def test_nothing_a_sample_stores_reaches_the_next(executor, world, style, kind):
    """Sample A stores (keyring, SysV shm and message queue, POSIX mq, a forked child holding an abstract socket;
    or files anywhere it can write); sample B, next on the same worker, looks: both pass only if their channel
    worked."""
    store, find = (KEYRING_STORE, KEYRING_FIND) if kind == "kernel" else (FILE_STORE, FILE_FIND)

    def completion(items, call):
        return Case("x", (), "", body=f"    if {call}() {{ a + b }} else {{ a + b - 1 }}", items=items).completion(style)

    with watched(executor, world, f"{kind} state [{style}]"):
        a = judge(executor, style, completion(store, "store"))
        b = judge(executor, style, completion(find, "find"))
    assert a["error_type"] == "test_failure", f"sample A could store: {_brief(a)}"
    assert b["error_type"] == "test_failure", f"sample B found A's state: {_brief(b)}"


def test_only_the_work_dir_is_writable(executor, world):
    """A scan of the whole file system as the sample's uid (unsealed, to run find): only its own dir, which
    the scan reaches only when told where (the work root above it cannot be listed)."""
    c = executor.client
    d = c.new_dir()
    try:
        r = c.request({"argv": ["find", "/", d, "-path", "/proc", "-prune", "-o", "-path", "/sys", "-prune", "-o",
                                "-writable", "-type", "d", "-print"],
                       "cwd": d, "env": c.env(d), "timeout": 60, "uid": c.uid})
        assert r.get("error") is None, r
        assert r["stdout"].split() == [d], r["stdout"][-2000:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not ROOT, reason="private dirs need the sample's own uid (root drops to it)")
@pytest.mark.parametrize("style", STYLES)
def test_a_sample_cannot_list_or_read_other_samples_or_the_runner(executor, world, style):
    """Another sample's build is there (its real path is in the attack); the work root, its dirs and files,
    and the runner's files: none can be listed or read (executing is refused by the filter anyway)."""
    other, built = _built(executor, style, good_completion("add", style))
    try:
        root = executor.client.root
        targets = [built.exe, os.path.join(root, "runner.py"), os.path.join(root, "heval-spawn"),
                   "../runner.py", "../heval-spawn"]
        dirs = [root, built.dir, "..", "/proc/self/cwd/.."]
        body = (f"    let reached = {targets!r}.iter().any(|p| std::fs::read(p).is_ok())\n"
                f"        || {dirs!r}.iter().any(|d| std::fs::read_dir(d).is_ok())\n"
                "        || (1..200).any(|i| std::fs::read(format!(\"../b{:07}/main\", i)).is_ok()\n"
                "                        || std::fs::read(format!(\"../b{:07}/batch\", i)).is_ok());\n" + reached)
        body = body.replace("['", '["').replace("']", '"]').replace("', '", '", "')
        with watched(executor, world, f"read others [{style}]"):
            v = judge(executor, style, Case("x", (), "", body=body).completion(style))
        assert v["error_type"] == "test_failure", _brief(v)
        assert run_built(executor, other, built)["passed"] is True  # and the other sample is unharmed
        assert oct(os.stat(root).st_mode & 0o777) == "0o711"
        assert oct(os.stat(built.dir).st_mode & 0o777) == "0o711"
        assert oct(os.stat(built.exe).st_mode & 0o777) == "0o111"
    finally:
        shutil.rmtree(built.dir, ignore_errors=True)


def test_batched_samples_are_sealed_too(executor, world):
    """The same defences when the attacks share one batch binary with an honest sample."""
    attacks = [c for c in SAFE if c.name in ("write_own_mem_flips_statics", "fake_summary_proof_then_exec_true",
                                             "write_proof_fd_by_path")]
    programs = [assemble(PROBLEMS["add"]["libtest"], c.completion("libtest")) for c in attacks]
    programs.append(assemble(PROBLEMS["add"]["libtest"], good_completion("add", "libtest")))
    with watched(executor, world, "batched attacks"):
        builds, alone = executor.builder.batch_builds, executor.builder.alone_builds
        verdicts = executor.grade_programs(programs)
        assert executor.builder.batch_builds == builds + 1 and executor.builder.alone_builds == alone, \
            "expected one batch binary"
    for c, v in zip(attacks, verdicts):
        assert v["error_type"] in c.expect, f"{c.name}: {_brief(v)}"
    assert verdicts[-1]["passed"] is True, _brief(verdicts[-1])


# ------------------------------------------------------------------------------------------ honest code

LEGIT = [  # what std and libtest need from /proc and friends, and honest native code, still works
    ("available_parallelism", "    assert!(std::thread::available_parallelism().is_ok());\n    a + b"),
    ("current_exe_path", "    assert!(std::env::current_exe().unwrap().is_absolute());\n    a + b"),
    ("named_thread", '    std::thread::Builder::new().name("worker".into()).spawn(move || a + b).unwrap().join().unwrap()'),
    ("proc_self_maps_and_status", '    assert!(std::fs::read_to_string("/proc/self/maps").unwrap().contains("[stack]"));\n'
                                  '    assert!(std::fs::read_dir("/proc/self/fd").is_ok());\n    a + b'),
    ("counting_global_allocator", "    let v: Vec<i32> = vec![a, b];\n"
                                  "    assert!(N.load(std::sync::atomic::Ordering::SeqCst) > 0);\n    v.iter().sum()"),
]
COUNTING = ("struct Counting;\nstatic N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);\n"
            "unsafe impl std::alloc::GlobalAlloc for Counting {\n"
            "    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {\n"
            "        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);\n"
            "        unsafe { std::alloc::System.alloc(l) }\n    }\n"
            "    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) { unsafe { std::alloc::System.dealloc(p, l) } }\n"
            "}\n#[global_allocator]\nstatic GLOBAL: Counting = Counting;")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name,body", LEGIT, ids=[n for n, _ in LEGIT])
def test_legitimate_code_still_passes(executor, world, name, body, style):
    items = COUNTING if name == "counting_global_allocator" else ""
    with watched(executor, world, f"{name} [{style}]"):
        v = judge(executor, style, Case(name, (), "", body=body, items=items).completion(style))
    assert v["passed"] is True, f"{name} [{style}]: {_brief(v)}"


@pytest.mark.parametrize("style", STYLES)
def test_stack_overflow_is_still_reported(executor, world, style):
    """std's main-thread guard page comes from /proc/self/maps (pthread_getattr_np): still readable."""
    body = "    fn down(n: u64) -> u64 { if n == 0 { 0 } else { 1 + down(n - 1) } }\n    down(u64::MAX) as i32 + a + b"
    v = judge(executor, style, Case("so", (), "", body=body).completion(style))
    assert v["error_type"] == "runtime_error" and "overflowed its stack" in v["stderr"], _brief(v)


# ------------------------------------------------------------------------------------------ the runner's seal


@pytest.fixture
def helper(tmp_path, monkeypatch):
    exe = str(tmp_path / "heval-spawn")
    assert install_spawner(exe), "no C compiler could build the spawn helper"
    monkeypatch.setattr(runner, "SPAWNER", exe)
    return runner


SECCOMP_LINE = 'while read -r l; do case "$l" in Seccomp:*) echo "$l";; esac; done < /proc/self/status'


def _sh(jail, script, cwd, **req):
    """bash: dash has no redirection to descriptors above 9."""
    return jail.run(dict({"argv": ["/bin/bash", "-c", script], "cwd": cwd, "timeout": 20,
                          "env": {"PATH": "/usr/bin:/bin"}}, **req))


def test_sealed_run_gets_its_filter_limits_and_proof_socket(helper, tmp_path):
    os.chmod(tmp_path, 0o777)
    uid = 1_999_000_377 if ROOT else None
    # shell builtins only: every exec is refused in there
    r = _sh(helper, f"ulimit -n; ulimit -Hn; {SECCOMP_LINE}; echo report >&{PROOF_FD}; "
                    f"echo x > /proc/self/fd/{PROOF_FD} || echo reopen-refused; for f in /proc/self/fd/*; do "
                    "echo ${f##*/}; done",
            str(tmp_path), seal=True, proof_fd=PROOF_FD, nofile=4096, uid=uid)
    lines = r["stdout"].split("\n")
    assert lines[:3] == ["1023", "1023", "Seccomp:\t2"], r  # NOFILE capped below the helper's EXEC_FD, hard too
    assert "reopen-refused" in r["stdout"] and "No such device or address" in r["stderr"], r  # a socket: ENXIO
    assert "1023" not in lines[4:], "the helper's exec descriptor must not survive the exec"
    assert r["proof"] == "report\n", r
    plain = _sh(helper, f"echo report >&{PROOF_FD} 2>/dev/null; {SECCOMP_LINE}", str(tmp_path))
    assert "proof" not in plain and plain["stdout"] == "Seccomp:\t0\n", plain  # builds (rustc) are not sealed


def test_a_sealed_run_without_the_helper_is_refused(tmp_path, monkeypatch):
    """The filter is the helper's: without it, no sealed run (fail closed), rather than an unsealed one."""
    monkeypatch.setattr(runner, "SPAWNER", str(tmp_path / "absent"))
    r = _sh(runner, "echo ran", str(tmp_path), seal=True, proof_fd=PROOF_FD)
    assert "spawn helper" in r.get("error", ""), r
    assert "ran" not in r.get("stdout", "")
