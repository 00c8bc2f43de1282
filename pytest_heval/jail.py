"""The process runner that lives inside the sandbox: one per worker, many samples.

Started once (inside firejail, bwrap, or nothing), it reads one JSON request per line on stdin and
answers one JSON line on stdout. Each request runs one command as a process of its own:

* in a new session (its own process group), optionally as an unprivileged uid,
* with rlimits (address space, CPU time backstop, file size, process count, no core dumps),
* with a wall-clock timeout that SIGKILLs the whole group,
* with an output cap: past ``out_limit`` bytes of stdout+stderr the group is killed,
* and afterwards every process it left behind is killed: this runner is a child subreaper, so
  orphans (even ones that called setsid) are re-parented to it and found in /proc.

This file is run by path with ``python -I -S`` and must use the standard library only.
"""

import ctypes
import json
import os
import resource
import select
import signal
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


def kill_leftovers():
    """Kill every descendant of this runner (orphans are re-parented to us as subreaper)."""
    me = os.getpid()
    for _ in range(100):
        kids = _children_of(me)
        if not kids:
            return 0
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.002)
        _reap()
    return len(_children_of(me))


def _preexec(req):
    mem = req.get("mem_mb")
    limits = [(resource.RLIMIT_CORE, 0)]
    if mem:
        limits.append((resource.RLIMIT_AS, int(mem) * 1024 * 1024))
    if req.get("cpu_s"):
        limits.append((resource.RLIMIT_CPU, int(req["cpu_s"])))
    if req.get("fsize_mb"):
        limits.append((resource.RLIMIT_FSIZE, int(req["fsize_mb"]) * 1024 * 1024))
    if req.get("nproc"):
        limits.append((resource.RLIMIT_NPROC, int(req["nproc"])))
    if req.get("nofile"):
        limits.append((resource.RLIMIT_NOFILE, int(req["nofile"])))

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


def _tail(buf, n):
    return bytes(buf[-n:]) if len(buf) > n else bytes(buf)


def run(req):
    out_limit = int(req.get("out_limit") or 8 * 1024 * 1024)
    keep = int(req.get("tail") or 8192)
    timeout = float(req.get("timeout") or 10)
    env = req.get("env") or {"PATH": "/usr/bin:/bin"}
    t0 = time.monotonic()
    try:
        import subprocess

        proc = subprocess.Popen(
            req["argv"],
            cwd=req.get("cwd"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_preexec(req),
            close_fds=True,
        )
    except OSError as e:
        return {"error": "cannot start %s: %s" % (req["argv"][0], e), "duration": time.monotonic() - t0}
    bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    total = {proc.stdout.fileno(): 0, proc.stderr.fileno(): 0}
    open_fds = set(bufs)
    timed_out = out_exceeded = False
    deadline = t0 + timeout
    status = None
    try:
        pidfd = os.pidfd_open(proc.pid)  # readable when the process ends: no polling
    except (AttributeError, OSError):
        pidfd = None
    drain_until = None
    out_fd = proc.stdout.fileno()
    prefix = req.get("keep_prefix")  # a string or a list of strings
    if prefix:
        prefix = tuple(x.encode() for x in ([prefix] if isinstance(prefix, str) else prefix))
    else:
        prefix = None
    carry, kept = bytearray(), []
    while True:
        if status is None:
            pid, st = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                status = st
                # the process ended; whatever it started may still hold the pipes: drain briefly
                drain_until = time.monotonic() + 0.05
        now = time.monotonic()
        if status is not None and (not open_fds or now >= drain_until):
            break
        if status is None and now >= deadline:
            timed_out = True
            break
        wait = (drain_until if status is not None else deadline) - now
        watch = list(open_fds)
        if status is None:
            if pidfd is not None:
                watch.append(pidfd)
            else:
                wait = min(wait, 0.002)
        ready, _, _ = select.select(watch, [], [], max(wait, 0))
        for fd in ready:
            if fd == pidfd:
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
    if status is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        _, status = os.waitpid(proc.pid, 0)
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
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
    proc.stdout.close()
    proc.stderr.close()
    so, se = list(bufs.values())
    to, te = list(total.values())
    res = {
        "rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "out_exceeded": out_exceeded,
        "duration": duration,
        "stdout": _tail(so, keep).decode("utf-8", "replace"),
        "stderr": _tail(se, keep).decode("utf-8", "replace"),
        "stdout_bytes": to,
        "stderr_bytes": te,
        "leftovers": leftovers,
        "kept_lines": [k.decode("utf-8", "replace") for k in kept],
    }
    return res


def main():
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
