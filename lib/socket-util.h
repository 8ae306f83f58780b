/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* AF_UNIX sockets by file system path, and fd flags. */

#include <sys/socket.h>
#include <sys/un.h>

/* Fills `ret` for `path`. Returns the address length to pass to bind() or
 * connect(), -EINVAL for an empty path, -ENAMETOOLONG when it does not fit
 * sun_path (the kernel would not see the rest of it). */
int sockaddr_un_set_path(struct sockaddr_un *ret, const char *path);

/* connect() and bind() of `fd` to `path`. 0 or negative errno. */
int socket_connect_path(int fd, const char *path);
int socket_bind_path(int fd, const char *path);

/* Opens a socket of `type` (SOCK_CLOEXEC and other flags or'ed in) and
 * connects it to `path`. Returns the fd or negative errno. */
int socket_open_connected(int type, const char *path);

/* Sets O_NONBLOCK on `fd`. 0 or negative errno. */
int fd_set_nonblock(int fd);
