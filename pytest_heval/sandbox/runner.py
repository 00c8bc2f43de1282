"""The process runner that lives inside the sandbox: one per worker, many samples.

Started once (inside firejail, bwrap, or nothing), it reads one JSON request per line on stdin and
answers one JSON line on stdout. Each request runs one command as a process of its own:

* in a new session (its own process group), optionally as an unprivileged uid,
* with rlimits (address space, CPU time backstop, file size, process count, no core dumps),
* with a CPU-time limit on its whole process tree (user+sys of every process below this runner, read from /proc
  no more often than the limit could be reached: see :func:`_tree_cpu`), which makes the verdict independent of
  the machine's load, and a wall-clock backstop for programs that sleep or block; either SIGKILLs the group,
* with an output cap: past ``out_limit`` bytes of stdout+stderr the group is killed,
* and afterwards every process it left behind is killed: this runner is a child subreaper, so
  orphans (even ones that called setsid) are re-parented to it and found in /proc.

A request with ``seal`` (a sample's test run) goes through the spawn helper's seccomp filter (no exec after
the helper's own, no keyring, no SysV IPC or message queues; see spawn.c) and gets the write end of a socket at
descriptor ``proof_fd``: what the program writes there (its exit guard: "main returned") comes back as ``proof``.
A socket, not a pipe: opening /proc/self/fd/N of a socket fails (ENXIO) for everyone, so code without a raw
descriptor (safe Rust has none) cannot write to it.

This file is run by path with ``python -I -S`` and must use the standard library only.
"""

import ctypes
import errno
import json
import os
import resource
import select
import signal
import socket
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


def _prctl(option, arg):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0)
    except Exception:
        return -1


def _children_of(pid):
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(name))
    return out


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _my_children():
    """This runner's children: /proc's children file (one read), else a scan of all of /proc."""
    me = os.getpid()
    try:
        with open("/proc/self/task/%d/children" % me, "rb") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return _children_of(me)


def kill_leftovers():
    """Kill every descendant of this runner (orphans are re-parented to us as subreaper)."""
    for _ in range(100):
        kids = _my_children()
        if not kids:
            return 0
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.002)
        _reap()
    return len(_my_children())


MiB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _tree_cpu():
    """CPU seconds (user+sys) of every process below this runner: each one's own time plus what it reaped
    (cutime/cstime), zombies and orphans (re-parented to us) included. A parent is read before its children, so a
    child reaped meanwhile is missed once rather than counted twice. Lost: a child whose parent ignores SIGCHLD
    (auto-reaped) between two reads; RLIMIT_CPU per process and the wall-clock backstop still bound it."""
    ticks = 0
    todo = _my_children()
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open("/proc/%d/stat" % p, "rb") as f:
                stat = f.read()
            fields = stat[stat.rfind(b")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid), "rb") as f:
                    todo.extend(int(x) for x in f.read().split())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return ticks / CLK_TCK


def _cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _limits(req):
    """The rlimits a request asks for, as (resource, value) in the spawn helper's argument order (0: leave it)."""
    return [
        (resource.RLIMIT_AS, int(req.get("mem_mb") or 0) * MiB),
        (resource.RLIMIT_CPU, int(req.get("cpu_s") or 0)),
        (resource.RLIMIT_FSIZE, int(req.get("fsize_mb") or 0) * MiB),
        (resource.RLIMIT_NPROC, int(req.get("nproc") or 0)),
        (resource.RLIMIT_NOFILE, int(req.get("nofile") or 0)),
    ]


def _preexec(req):
    limits = [(resource.RLIMIT_CORE, 0)] + [(r, v) for r, v in _limits(req) if v > 0]

    def fn():
        os.setsid()
        for which, value in limits:
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass
        uid = req.get("uid")
        if uid is not None and os.geteuid() == 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    return fn


def _scan_lines(chunk, prefix, carry, kept, max_kept=1000, max_line=4096):
    """Keep the stdout lines that start with ``prefix`` (libtest's "test <name> ... "), across chunks."""
    carry += chunk
    start = 0
    while True:
        nl = carry.find(b"\n", start)
        if nl < 0:
            break
        if any(carry.startswith(p, start) for p in prefix) and len(kept) < max_kept:
            kept.append(bytes(carry[start:min(nl, start + max_line)]))
        start = nl + 1
    del carry[:start]
    if len(carry) > max_line:  # a huge line: keep only its beginning
        head = bytes(carry[:max_line])
        if head.startswith(prefix) and len(kept) < max_kept:  # bytes.startswith takes a tuple
            kept.append(head)
        carry.clear()


WATCH_STDIN = False  # main() (the runner proper, requests on stdin) turns it on


def _stdin_closed():
    """Our stdin is readable: whether that is end of file (nothing to read), not a request."""
    import fcntl
    import struct
    import termios

    try:
        n = struct.unpack("i", fcntl.ioctl(0, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return True
    return n == 0


def _tail(buf, n):
    return bytes(buf[-n:]) if len(buf) > n else bytes(buf)


SPAWNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "heval-spawn")


def _start_spawner(req, env, proof_w=None):
    """posix_spawn (vfork) the compiled helper, which sets limits and uid, then execs the command.
    Returns (pid, stdout fd, stderr fd); OSError when the command could not be started."""
    uid = req.get("uid")
    nums = [-1 if uid is None else int(uid)] + [value for _, value in _limits(req)] + [1 if req.get("seal") else 0]
    args = [SPAWNER, req.get("cwd") or "."] + [str(n) for n in nums] + list(req["argv"])
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    ep_r, ep_w = os.pipe()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
        (os.POSIX_SPAWN_DUP2, ep_w, 3),
    ]
    if proof_w is not None:
        actions.append((os.POSIX_SPAWN_DUP2, proof_w, int(req["proof_fd"])))
    try:
        pid = os.posix_spawn(SPAWNER, args, env, file_actions=actions, setsid=True,
                             setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError:
        for fd in (out_r, err_r, ep_r):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, ep_w):
            os.close(fd)
    msg = b""
    while True:  # EOF at the exec (the pipe is close-on-exec there), or what failed before it
        chunk = os.read(ep_r, 256)
        if not chunk:
            break
        msg += chunk
    os.close(ep_r)
    if msg:
        os.waitpid(pid, 0)
        os.close(out_r)
        os.close(err_r)
        stage, _, num = msg.decode("ascii", "replace").partition(":")
        err = int(num) if num.isdigit() else 0
        what = req["argv"][0] if stage == "exec" else "%s (%s)" % (req["argv"][0], stage)
        raise OSError(err, os.strerror(err), what)
    return pid, out_r, err_r


def _start_popen(req, env):
    """The same without the helper (it could not be built): a Python fork with a preexec function."""
    import subprocess

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(req["argv"], cwd=req.get("cwd"), env=env, stdin=subprocess.DEVNULL,
                                stdout=out_w, stderr=err_w, preexec_fn=_preexec(req), close_fds=True)
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    proc.returncode = 0  # reaped by run() with waitpid: Popen must never poll this pid again
    return proc.pid, out_r, err_r


def _start(req, env, proof_w=None):
    if os.access(SPAWNER, os.X_OK):
        return _start_spawner(req, env, proof_w)
    if req.get("seal") or proof_w is not None:
        # the seccomp filter and the proof descriptor are the helper's: without it, refuse (fail closed)
        raise OSError(errno.ENOSYS, "a sealed run needs the spawn helper (heval-spawn), which is missing")
    return _start_popen(req, env)


def _read_proof(sock):
    """What the program wrote on its proof socket (everything that could write there is dead by now)."""
    sock.setblocking(False)
    data = b""
    try:
        while len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    sock.close()
    return data.decode("utf-8", "replace")


def run(req):
    out_limit = int(req.get("out_limit") or 8 * 1024 * 1024)
    keep = int(req.get("tail") or 8192)
    timeout = float(req.get("timeout") or 10)  # wall clock
    cpu_limit = float(req.get("cpu_limit") or 0)  # CPU seconds of the whole tree (0: none)
    env = req.get("env") or {"PATH": "/usr/bin:/bin"}
    t0 = time.monotonic()
    proof = None
    if req.get("proof_fd") is not None:
        proof, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            pid, out_fd, err_fd = _start(req, env, None if proof is None else child_end.fileno())
        finally:
            if proof is not None:
                child_end.close()  # the sample holds the only write end
    except OSError as e:
        if proof is not None:
            proof.close()
        return {"error": "cannot start %s: %s" % (req["argv"][0], e), "duration": time.monotonic() - t0}
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    total = {out_fd: 0, err_fd: 0}
    open_fds = set(bufs)
    timed_out = out_exceeded = False
    limit = None  # which limit ended the run: "cpu" or "wall"
    deadline = t0 + timeout
    ncpu = _cpus()
    # the tree cannot use more than ncpu CPU-seconds per second: no need to look before then
    next_cpu = t0 + cpu_limit / ncpu if cpu_limit > 0 else float("inf")
    ru_cpu = 0.0  # CPU of the command's own process and what it reaped, once it has ended
    status = None
    try:
        pidfd = os.pidfd_open(pid)  # readable when the process ends: no polling
    except (AttributeError, OSError):
        pidfd = None
    drain_until = None
    prefix = req.get("keep_prefix")  # a string or a list of strings
    if prefix:
        prefix = tuple(x.encode() for x in ([prefix] if isinstance(prefix, str) else prefix))
    else:
        prefix = None
    carry, kept = bytearray(), []
    while True:
        if status is None:
            done, st, ru = os.wait4(pid, os.WNOHANG)
            if done:
                status = st
                ru_cpu = ru.ru_utime + ru.ru_stime
                # the process ended; whatever it started may still hold the pipes: drain briefly
                drain_until = time.monotonic() + 0.05
        now = time.monotonic()
        if status is not None and (not open_fds or now >= drain_until):
            break
        if status is None and (now >= deadline or now >= next_cpu):
            used = _tree_cpu()
            if used >= cpu_limit > 0 or now >= deadline:
                timed_out = True
                limit = "cpu" if used >= cpu_limit > 0 else "wall"
                break
            # a big tree (a fork bomb) costs ~40 us a process to read: never spend more than a fifth of the time on it
            later = time.monotonic()
            next_cpu = later + max(0.01, 4 * (later - now), (cpu_limit - used) / ncpu)
        wait = (drain_until if status is not None else min(deadline, next_cpu)) - now
        watch = list(open_fds)
        if status is None:
            if WATCH_STDIN:
                watch.append(0)  # our stdin: EOF there means the worker that sent this request is gone
            if pidfd is not None:
                watch.append(pidfd)
            else:
                wait = min(wait, 0.002)
        ready, _, _ = select.select(watch, [], [], max(wait, 0))
        if WATCH_STDIN and 0 in ready and _stdin_closed():
            # the worker died (killed, crashed): nobody will read the verdict, and the sample must not keep burning a
            # core beside the samples of the worker that replaces it: end it now
            break
        for fd in ready:
            if fd in (pidfd, 0):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            total[fd] += len(chunk)
            if prefix is not None and fd == out_fd:
                _scan_lines(chunk, prefix, carry, kept)
            b = bufs[fd]
            b += chunk
            if len(b) > 2 * keep:
                del b[: len(b) - keep]
        if sum(total.values()) > out_limit:
            out_exceeded = True
            break
    if pidfd is not None:
        os.close(pidfd)
    cpu = ru_cpu + _tree_cpu()  # what ended (reaped) and what is still there, before it is killed
    try:  # the whole group: what it started goes too, ended or not
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if status is None:
        _, status, _ = os.wait4(pid, 0)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    rlimit_cpu = int(req.get("cpu_s") or 0)
    if not timed_out and cpu_limit > 0 and sig in (signal.SIGKILL, signal.SIGXCPU) and \
            rlimit_cpu and cpu >= 0.8 * rlimit_cpu - 0.5:
        # the per-process RLIMIT_CPU backstop ended it (the kernel counts stolen time against it, /proc does not:
        # on a busy VM the CPU read here falls short of the rlimit by several percent)
        timed_out, limit = True, "cpu"
    duration = time.monotonic() - t0
    leftovers = kill_leftovers()
    for fd in list(open_fds):
        # everything that could write is dead now: take what is left without blocking
        try:
            while True:
                r, _, _ = select.select([fd], [], [], 0)
                if not r:
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                total[fd] += len(chunk)
                bufs[fd] += chunk
                if len(bufs[fd]) > 2 * keep:
                    del bufs[fd][: len(bufs[fd]) - keep]
        except OSError:
            pass
    os.close(out_fd)
    os.close(err_fd)
    so, se = list(bufs.values())
    to, te = list(total.values())
    res = {
        "rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "limit": limit,
        "cpu": round(cpu, 3),
        "cpu_limit": cpu_limit or None,
        "wall_limit": timeout,
        "out_exceeded": out_exceeded,
        "duration": duration,
        "stdout": _tail(so, keep).decode("utf-8", "replace"),
        "stderr": _tail(se, keep).decode("utf-8", "replace"),
        "stdout_bytes": to,
        "stderr_bytes": te,
        "leftovers": leftovers,
        "kept_lines": [k.decode("utf-8", "replace") for k in kept],
    }
    if proof is not None:
        res["proof"] = _read_proof(proof)
    return res


def main():
    global WATCH_STDIN
    WATCH_STDIN = True
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    inp = sys.stdin.buffer
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid(), "uid": os.geteuid()}) + "\n")
    out.flush()
    for line in inp:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.get("op", "run")
        if op == "run":
            res = run(req)
        elif op == "chown":
            for p in req["paths"]:
                os.chown(p, req["uid"], req["uid"])
            res = {}
        elif op == "exit":
            break
        else:
            res = {"error": "unknown op %r" % op}
        res["id"] = req.get("id")
        out.write(json.dumps(res) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
