/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * cowvm console NAME: the VM's interactive console, the socket ch-launch
 * serves at /run/cowvm/NAME/vmm/console.sock. The terminal is raw while
 * attached, so that the guest sees every key (Ctrl-C included); Ctrl-]
 * leaves, as with telnet and socat's escape, and the terminal is restored
 * however the command ends.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cowvm.h"
#include "log.h"
#include "path-util.h"
#include "socket-util.h"
#include "vm-layout.h"

#define ESCAPE_CHAR 0x1d /* Ctrl-] */

static struct termios saved;
static bool saved_valid;

static void restore_terminal(void) {
        if (saved_valid)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        saved_valid = false;
}

static void make_raw(void) {
        struct termios raw;

        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
                return;
        saved_valid = true;
        raw = saved;
        cfmakeraw(&raw);
        (void) tcsetattr(STDIN_FILENO, TCSANOW, &raw);
}

static int connect_console(const char *name, int *ret) {
        _cleanup_(vm_layout_done) VmLayout layout = {};
        _cleanup_free_ char *path = NULL;
        int fd;

        if (vm_layout_make(name, false, &layout) < 0 || !(path = path_join(layout.vmm_dir, "console.sock")))
                return log_oom();
        fd = socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC, path);
        if (fd == -ENOENT || fd == -ECONNREFUSED)
                return log_error_errno(fd, "VM %s is not running (no console at '%s'): systemctl start vm@%s", name,
                                       path, name);
        if (fd < 0)
                return log_error_errno(fd, "Failed to connect to '%s': %m", path);
        *ret = fd;
        return 0;
}

/* Copies what is there; 0 at the end of either side or at the escape. */
static int pump(int from, int to, bool watch_escape) {
        char buf[4096];
        ssize_t n = read(from, buf, sizeof buf);
        char *esc;

        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 1 : -errno;
        if (n == 0)
                return 0;
        esc = watch_escape ? memchr(buf, ESCAPE_CHAR, (size_t) n) : NULL;
        if (esc)
                n = esc - buf;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t) (n - off));

                if (w < 0 && errno != EINTR)
                        return -errno;
                off += w > 0 ? w : 0;
        }
        return esc ? 0 : 1;
}

int verb_console(int argc, char *argv[]) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (argc != 2)
                return usage_error("cowvm console NAME");
        if (!vm_name_is_valid(argv[1]))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' is not a valid VM name.", argv[1]);
        r = connect_console(argv[1], &fd);
        if (r < 0)
                return r;
        (void) signal(SIGPIPE, SIG_IGN);
        fprintf(stderr, "Connected to the console of VM %s. Press Ctrl-] to leave.\r\n", argv[1]);
        make_raw();
        for (;;) {
                struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (p[1].revents && (r = pump(fd, STDOUT_FILENO, false)) <= 0)
                        break;
                if (p[0].revents && (r = pump(STDIN_FILENO, fd, saved_valid)) <= 0)
                        break;
        }
        restore_terminal();
        fprintf(stderr, "\nLeft the console of VM %s.\n", argv[1]);
        if (r < 0)
                return log_error_errno(r, "Console of VM %s: %m", argv[1]);
        return 0;
}
