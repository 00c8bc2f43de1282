/* heval-spawn: the last step before a sample's command runs, inside the sandbox.
 *
 * The runner (runner.py) starts this with posix_spawn (vfork: about 0.5 ms, against ~3 ms for a Python
 * fork with a preexec function), already in a new session and with stdin/stdout/stderr in place.
 * It applies the limits, drops to the sample's uid, and execs the command:
 *
 *   heval-spawn CWD UID AS CPU FSIZE NPROC NOFILE SEAL PROG ARG...
 *
 * UID < 0: keep the current uid. A limit <= 0: leave it alone. Core dumps are always off.
 * fd 3 is the error pipe (close-on-exec here): if anything before the exec fails, "STAGE:ERRNO"
 * goes there and the process exits 127, so the runner can tell "could not start" from a command's
 * own exit status.
 *
 * SEAL = 1 (test runs; never rustc, which must exec the linker), x86_64 only: the command gets a
 * seccomp filter that it and its children keep for good. It refuses execve and execveat, so
 * the sample cannot replace itself or start any program; this helper's own exec gets through as
 * execveat() on an O_PATH descriptor numbered EXEC_FD, the one execveat the filter allows. The
 * sample can never own that number: the descriptor is close-on-exec and RLIMIT_NOFILE (soft and
 * hard) is at most EXEC_FD, so no descriptor the sample opens, duplicates or receives gets it.
 * The filter also refuses the kernel keyring, SysV IPC and POSIX message queues (state that would
 * outlive the sample and reach the next one on this worker) and PR_SET_DUMPABLE (a sample runs
 * non-dumpable: its binary is execute-only, so /proc/self/mem and friends are root's).
 * Elsewhere SEAL is ignored (no filter: the behaviour before it existed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#define HEVAL_SEAL 1
#endif

#define EXEC_FD 1023 /* the engine relies on this number: nofile 1023, PROOF_FD 1022 (program/guard.py) */

extern char **environ;

static void fail(const char *stage) {
    char buf[64];
    int e = errno;
    int n = snprintf(buf, sizeof buf, "%s:%d", stage, e);
    if (n > 0) {
        ssize_t ignored = write(3, buf, (size_t)n);
        (void)ignored;
    }
    _exit(127);
}

static void limit(int resource, long long v) {
    if (v > 0) {
        struct rlimit r = {(rlim_t)v, (rlim_t)v};
        setrlimit(resource, &r); /* as the Python path: a limit that cannot be set is left as it is */
    }
}

#ifdef HEVAL_SEAL
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4)
#define DENY (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
/* jump to the "deny" instruction at the end when the syscall number is NR */
#define REFUSE(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, DENY)

static int seal(void) {
    struct sock_filter f[] = {
        /* another ABI (i386 int 0x80) is never legitimate here: end the process */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* x32 numbers (bit 30) reach the same kernel functions under other numbers */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        REFUSE(__NR_execve),
        REFUSE(__NR_add_key), REFUSE(__NR_request_key), REFUSE(__NR_keyctl),
        REFUSE(__NR_shmget), REFUSE(__NR_shmat), REFUSE(__NR_shmctl),
        REFUSE(__NR_semget), REFUSE(__NR_semop), REFUSE(__NR_semtimedop), REFUSE(__NR_semctl),
        REFUSE(__NR_msgget), REFUSE(__NR_msgsnd), REFUSE(__NR_msgrcv), REFUSE(__NR_msgctl),
        REFUSE(__NR_mq_open), REFUSE(__NR_mq_unlink), REFUSE(__NR_mq_timedsend),
        REFUSE(__NR_mq_timedreceive), REFUSE(__NR_mq_notify), REFUSE(__NR_mq_getsetattr),
        /* prctl(PR_SET_DUMPABLE, ...): refused; every other prctl (thread names...) allowed */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_DUMPABLE, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* execveat: only on EXEC_FD (all 64 bits of the argument), which the sample cannot own */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EXEC_FD, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(0)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* PROG as execvp finds it: as given when it has a slash, else the first executable on PATH */
static int open_prog(const char *prog) {
    if (strchr(prog, '/'))
        return open(prog, O_PATH | O_CLOEXEC);
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        if (n > 0 && n + strlen(prog) + 2 <= sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
            if (access(buf, X_OK) == 0)
                return open(buf, O_PATH | O_CLOEXEC);
        }
        p += n + (p[n] == ':');
    }
    errno = ENOENT;
    return -1;
}
#endif

int main(int argc, char **argv) {
    if (argc < 10) {
        errno = EINVAL;
        fail("usage");
    }
    fcntl(3, F_SETFD, FD_CLOEXEC);
    if (chdir(argv[1]) != 0)
        fail("chdir");
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    limit(RLIMIT_AS, atoll(argv[3]));
    limit(RLIMIT_CPU, atoll(argv[4]));
    limit(RLIMIT_FSIZE, atoll(argv[5]));
    limit(RLIMIT_NPROC, atoll(argv[6]));
    long long nofile = atoll(argv[7]);
#ifdef HEVAL_SEAL
    int sealed = atoi(argv[8]) == 1;
    if (sealed) {
        /* room for EXEC_FD until the exec, then at most EXEC_FD descriptors (numbers 0..EXEC_FD-1) */
        struct rlimit r;
        if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur <= EXEC_FD) {
            r.rlim_cur = EXEC_FD + 1;
            if (r.rlim_max < r.rlim_cur)
                r.rlim_max = r.rlim_cur;
            if (setrlimit(RLIMIT_NOFILE, &r) != 0)
                fail("nofile");
        }
        if (nofile <= 0 || nofile > EXEC_FD)
            nofile = EXEC_FD;
    }
#endif
    long long uid = atoll(argv[2]);
    if (uid >= 0 && geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0)
            fail("setuid");
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
#ifdef HEVAL_SEAL
    if (sealed) {
        int fd = open_prog(argv[9]); /* as the sample's uid: what it may not reach, it may not run */
        if (fd < 0)
            fail("exec");
        if (dup3(fd, EXEC_FD, O_CLOEXEC) != EXEC_FD)
            fail("dup");
        close(fd);
        struct rlimit r = {(rlim_t)nofile, (rlim_t)nofile};
        if (setrlimit(RLIMIT_NOFILE, &r) != 0)
            fail("nofile");
        if (seal() != 0)
            fail("seccomp");
        syscall(__NR_execveat, EXEC_FD, "", argv + 9, environ, AT_EMPTY_PATH);
        fail("exec");
    }
#endif
    limit(RLIMIT_NOFILE, nofile);
    execvp(argv[9], argv + 9);
    fail("exec");
    return 127;
}
