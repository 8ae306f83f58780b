/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * virtiofsd-exec NAME: the ExecStart= of virtiofsd@NAME.service. Finds the
 * installed virtiofsd, translates the definition's [Virtiofs] settings into
 * that implementation's options and execve()s it with the socket systemd
 * activated us with (virtiofsd@NAME.socket, fd 3) as --fd. Neither virtiofsd
 * speaks the socket-activation protocol itself; --fd is how both accept an
 * already listening socket.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "main-func.h"
#include "strv.h"
#include "virtiofsd-argv.h"
#include "vm-definition.h"

#define VIRTIOFSD_RUST_PATH "/usr/libexec/virtiofsd"
#define VIRTIOFSD_C_PATH "/usr/lib/qemu/virtiofsd"

/* Runs `binary --version` and returns the flavour its banner names. Only for a
 * binary named by $COWVM_VIRTIOFSD: the two default paths are known without
 * paying for a fork. */
static VirtiofsdFlavour probe_flavour(const char *binary) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        char buf[512];
        size_t n = 0;
        pid_t pid;
        int fds[2];

        if (pipe2(fds, O_CLOEXEC) < 0)
                return _VIRTIOFSD_FLAVOUR_INVALID;
        rfd = fds[0];
        wfd = fds[1];

        pid = fork();
        if (pid < 0)
                return _VIRTIOFSD_FLAVOUR_INVALID;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(wfd, STDOUT_FILENO) < 0 ||
                    dup2(wfd, STDERR_FILENO) < 0)
                        _exit(127);
                execl(binary, binary, "--version", (char *) NULL);
                _exit(127);
        }
        wfd = safe_close(wfd);

        for (;;) {
                ssize_t k = read(rfd, buf + n, sizeof buf - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (n >= sizeof buf - 1)
                        break;
        }
        buf[n] = '\0';
        rfd = safe_close(rfd);
        (void) waitpid(pid, NULL, 0);

        return virtiofsd_flavour_from_version(buf);
}

static int find_virtiofsd(const char **ret_binary, VirtiofsdFlavour *ret_flavour) {
        const char *e = getenv("COWVM_VIRTIOFSD");
        VirtiofsdFlavour f;

        if (e) {
                if (access(e, X_OK) < 0)
                        return log_error_errno(errno, "$COWVM_VIRTIOFSD=%s is not executable: %m", e);
                /* The explicit flavour wins: a wrapper script may print nothing useful. */
                f = virtiofsd_flavour_from_string(getenv("COWVM_VIRTIOFSD_FLAVOUR"));
                if (f < 0)
                        f = virtiofsd_flavour_from_path(e);
                if (f < 0)
                        f = probe_flavour(e);
                if (f < 0)
                        return log_error_errno(-EINVAL,
                                               "Cannot tell which virtiofsd %s is from its --version output; "
                                               "set $COWVM_VIRTIOFSD_FLAVOUR=rust or c.",
                                               e);
                *ret_binary = e;
                *ret_flavour = f;
                return 0;
        }

        /* The maintained Rust implementation first; the C one left QEMU after 7.2. */
        if (access(VIRTIOFSD_RUST_PATH, X_OK) >= 0) {
                *ret_binary = VIRTIOFSD_RUST_PATH;
                *ret_flavour = VIRTIOFSD_RUST;
                return 0;
        }
        if (access(VIRTIOFSD_C_PATH, X_OK) >= 0) {
                *ret_binary = VIRTIOFSD_C_PATH;
                *ret_flavour = VIRTIOFSD_C;
                return 0;
        }
        return log_error_errno(-ENOENT, "virtiofsd not found: looked for " VIRTIOFSD_RUST_PATH " and " VIRTIOFSD_C_PATH
                                        ". Install the 'virtiofsd' package (Debian >= 13) or 'qemu-system-common' "
                                        "(Debian 12), or point $COWVM_VIRTIOFSD at one.");
}

static int run(int argc, char *argv[]) {
        _cleanup_vm_definition_free_ VmDefinition *def = NULL;
        _cleanup_strv_free_ char **args = NULL;
        VirtiofsdFlavour flavour = _VIRTIOFSD_FLAVOUR_INVALID;
        const char *binary = NULL;
        int n, fd, r;

        if (argc != 2)
                return log_error_errno(-EINVAL, "Usage: %s NAME", program_invocation_short_name);

        r = vm_definition_load(argv[1], &def);
        if (r < 0)
                return r;

        /* unset_environment: virtiofsd must not see LISTEN_FDS meant for us. */
        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets systemd passed: %m");
        if (n != 1)
                return log_error_errno(-EBADF,
                                       "Expected exactly one listening socket from virtiofsd@%s.socket, got %d. "
                                       "Start virtiofsd@%s.socket, not the service.",
                                       def->name, n, def->name);
        fd = SD_LISTEN_FDS_START;
        r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to check the passed socket: %m");
        if (r == 0)
                return log_error_errno(-ENOTSOCK, "fd %d is not a listening AF_UNIX stream socket.", fd);

        r = find_virtiofsd(&binary, &flavour);
        if (r < 0)
                return r;

        r = virtiofsd_build_argv(flavour, binary, def->layout.root_dir, fd, def->virtiofs_cache,
                                 def->virtiofs_thread_pool_size, &args);
        if (r == -EINVAL)
                return log_error_errno(r, "Cannot pass '%s' to the %s virtiofsd (',' in the path).",
                                       def->layout.root_dir, virtiofsd_flavour_to_string(flavour));
        if (r < 0)
                return log_oom();

        /* sd_listen_fds() set FD_CLOEXEC; the socket must survive the execve(). */
        if (fcntl(fd, F_SETFD, 0) < 0)
                return log_error_errno(errno, "Failed to clear FD_CLOEXEC on fd %d: %m", fd);

        if (log_get_max_level() >= LOG_DEBUG) {
                STRV_FOREACH (a, args)
                        log_debug("argv: %s", *a);
        }

        execv(binary, args);
        return log_error_errno(errno, "Failed to execute %s: %m", binary);
}

DEFINE_MAIN_FUNCTION("virtiofsd-exec", LOG_TARGET_CONSOLE, run);
