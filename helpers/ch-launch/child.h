/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The hypervisor's process: its fds, its own uid and gid, no capability
 * in any set and none to be gained by exec. */

#include <sys/types.h>

#define CHILD_MAX_PASS_FDS 16

typedef struct ChildSpec {
        char **argv;
        int stdout_fd; /* -EBADF: the same as stderr */
        int stderr_fd;
        /* pass_fds[i] becomes the child's fd 3+i */
        int pass_fds[CHILD_MAX_PASS_FDS];
        size_t n_pass_fds;
        uid_t uid;     /* also the gid */
        gid_t kvm_gid; /* its one supplementary group ((gid_t) -1: none) */
        mode_t umask;  /* (mode_t) -1: unchanged */
} ChildSpec;

/* Forks and execs; the child dies with us (PR_SET_PDEATHSIG). */
int child_spawn(const ChildSpec *s, pid_t *ret_pid);
