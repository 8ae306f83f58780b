/* SPDX-License-Identifier: LGPL-2.1-or-later */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowvm.h"
#include "log.h"
#include "mount-util.h"
#include "unit-name.h"

extern char **environ;

static bool have_systemd(void) {
        return access("/run/systemd/system", F_OK) >= 0;
}

int run_command(char *const *argv) {
        pid_t pid;
        int status, r;

        r = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int unit_active_state(const char *unit, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        int fds[2], status, r;
        posix_spawn_file_actions_t fa;
        char *const argv[] = { (char *) "systemctl", (char *) "show", (char *) "-P", (char *) "ActiveState",
                               (char *) "--",        (char *) unit,   NULL };
        FILE *f;
        pid_t pid;

        if (!have_systemd())
                return (*ret = strdup("")) ? 0 : -ENOMEM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        r = posix_spawnp(&pid, "systemctl", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        if (r != 0) {
                close(fds[0]);
                return -r;
        }
        f = fdopen(fds[0], "r");
        if (f) {
                if (getline(&out, &size, f) < 0)
                        out = mfree(out);
                fclose(f);
        } else
                close(fds[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!out && !(out = strdup("")))
                return -ENOMEM;
        out[strcspn(out, "\n")] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

int vm_is_running(const VmDefinition *d) {
        _cleanup_free_ char *mount_unit = NULL, *units[4] = {};
        int r;

        r = mount_find(d->layout.root_dir, NULL);
        if (r != 0)
                return r < 0 ? r : 1;
        if (unit_name_from_path(d->layout.root_dir, ".mount", &mount_unit) < 0 ||
            asprintf(&units[0], "vm@%s.service", d->name) < 0 ||
            asprintf(&units[1], "overlay-prepare@%s.service", d->name) < 0 ||
            asprintf(&units[2], "virtiofsd@%s.service", d->name) < 0 || !(units[3] = strdup(mount_unit)))
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                _cleanup_free_ char *state = NULL;

                r = unit_active_state(units[i], &state);
                if (r < 0)
                        return r;
                if (!isempty(state) && !streq(state, "inactive") && !streq(state, "failed"))
                        return 1;
        }
        return 0;
}

static uint64_t usage_sum;

static int add_usage(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        usage_sum += (uint64_t) st->st_blocks * 512;
        return 0;
}

uint64_t tree_disk_usage(const char *path) {
        usage_sum = 0;
        (void) nftw(path, add_usage, 64, FTW_PHYS | FTW_MOUNT);
        return usage_sum;
}

int remove_tree(const char *path) {
        char *const argv[] = { (char *) "rm", (char *) "-rf", (char *) "--one-file-system",
                               (char *) "--", (char *) path,  NULL };
        int r = run_command(argv);

        if (r != 0)
                return log_warning_errno(r < 0 ? r : EIO, "Failed to remove '%s'; remove it by hand.", path);
        return 0;
}

int remove_tree_detached(const char *path) {
        pid_t pid = fork();

        if (pid < 0)
                return remove_tree(path);
        if (pid > 0)
                return 0;
        /* The child outlives the command: the VM is usable meanwhile. */
        (void) setsid();
        _exit(remove_tree(path) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}
