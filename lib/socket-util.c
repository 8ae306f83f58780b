/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <assert.h>
#include <string.h>

#include "macro.h"
#include "socket-util.h"

int sockaddr_un_set_path(struct sockaddr_un *ret, const char *path) {
        size_t len;

        assert(ret);
        assert(path);

        len = strlen(path);
        if (len == 0)
                return -EINVAL;
        if (len >= sizeof ret->sun_path)
                return -ENAMETOOLONG;
        *ret = (struct sockaddr_un) { .sun_family = AF_UNIX };
        memcpy(ret->sun_path, path, len + 1);
        return (int) (offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/* connect() and bind() take the same arguments. */
static int socket_path_op(int fd, const char *path, int (*op)(int, const struct sockaddr *, socklen_t)) {
        struct sockaddr_un sa;
        int len;

        len = sockaddr_un_set_path(&sa, path);
        if (len < 0)
                return len;
        if (op(fd, (struct sockaddr *) &sa, (socklen_t) len) < 0)
                return -errno;
        return 0;
}

int socket_connect_path(int fd, const char *path) {
        return socket_path_op(fd, path, connect);
}

int socket_bind_path(int fd, const char *path) {
        return socket_path_op(fd, path, bind);
}

int socket_open_connected(int type, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = socket(AF_UNIX, type, 0);
        if (fd < 0)
                return -errno;
        r = socket_connect_path(fd, path);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

int fd_set_nonblock(int fd) {
        int flags;

        assert(fd >= 0);
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}
