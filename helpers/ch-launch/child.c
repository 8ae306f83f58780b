/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "macro.h"
#include "vm-uid.h"

static _noreturn_ void child_fail(const char *what) {
        (void) dprintf(STDERR_FILENO, "Failed to drop the hypervisor's privileges (%s): %m\n", what);
        _exit(126);
}

/* In the child: the VM's own uid and gid, no capability in any set, and none
 * to be gained by exec (no_new_privs). The bounding set goes first: dropping
 * from it needs CAP_SETPCAP, which the uid change takes away. */
static void drop_privileges(const ChildSpec *s) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        uid_t u = s->uid;
        gid_t g = (gid_t) u;

        if (!vm_uid_in_range(u))
                child_fail("no id allocated");
        for (int cap = 0; cap < 64; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        child_fail("bounding set");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                child_fail("ambient set");
        if (setgroups(s->kvm_gid == (gid_t) -1 ? 0 : 1, &s->kvm_gid) < 0)
                child_fail("setgroups");
        if (setresgid(g, g, g) < 0)
                child_fail("setresgid");
        if (setresuid(u, u, u) < 0)
                child_fail("setresuid");
        /* The uid change cleared the permitted and effective sets; the
         * inheritable one goes too. */
        if (syscall(SYS_capset, &h, d) < 0)
                child_fail("capset");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail("no_new_privs");
        if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
                child_fail("still root");
}

/* In the child: fds to 0, 1, 2 and 3..; no other fd, default signals. */
static _noreturn_ void exec_child(const ChildSpec *s, pid_t parent, int devnull) {
        int tmp[3 + CHILD_MAX_PASS_FDS], src[3 + CHILD_MAX_PASS_FDS];
        size_t n = 3 + s->n_pass_fds;
        sigset_t ss;

        src[0] = devnull;
        src[1] = s->stdout_fd >= 0 ? s->stdout_fd : s->stderr_fd;
        src[2] = s->stderr_fd;
        for (size_t i = 0; i < s->n_pass_fds; i++)
                src[3 + i] = s->pass_fds[i];

        /* Two steps, so that no source is overwritten before it was copied. */
        for (size_t i = 0; i < n; i++) {
                tmp[i] = fcntl(src[i], F_DUPFD, (int) n);
                if (tmp[i] < 0)
                        _exit(126);
        }
        for (size_t i = 0; i < n; i++)
                if (dup2(tmp[i], (int) i) < 0)
                        _exit(126);
        (void) syscall(SYS_close_range, (unsigned) n, ~0U, 0);

        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);

        drop_privileges(s);
        if (s->umask != (mode_t) -1)
                (void) umask(s->umask);
        /* After the uid change, which clears it. The parent may be gone by now. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(126);

        execv(s->argv[0], s->argv);
        (void) dprintf(STDERR_FILENO, "Failed to execute %s: %m\n", s->argv[0]);
        _exit(127);
}

int child_spawn(const ChildSpec *s, pid_t *ret_pid) {
        _cleanup_close_ int devnull = -EBADF;
        pid_t parent = getpid(), pid;

        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0)
                return log_error_errno(errno, "Failed to open /dev/null: %m");
        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork: %m");
        if (pid == 0)
                exec_child(s, parent, devnull);
        *ret_pid = pid;
        return 0;
}
