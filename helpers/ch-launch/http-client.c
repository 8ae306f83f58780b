/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <poll.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http-client.h"
#include "macro.h"
#include "socket-util.h"

int http_format_request(const char *method, const char *endpoint, const char *body, char **ret, size_t *ret_len) {
        /* A PUT without a body still says "Content-Length: 0": HTTP/1.1 wants
         * a length on every request that may carry a body. */
        bool with_length = body || !streq(method, "GET");
        char length[64] = "";
        int n;
        char *s;

        if (!method || !endpoint || isempty(endpoint) || strpbrk(endpoint, " \r\n/?"))
                return -EINVAL;
        if (with_length)
                (void) snprintf(length, sizeof length, "Content-Length: %zu\r\n", body ? strlen(body) : 0);

        n = asprintf(&s, "%s " CH_API_PREFIX "%s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n%s%s\r\n%s", method,
                     endpoint, body ? "Content-Type: application/json\r\n" : "", length, strempty(body));
        if (n < 0)
                return -ENOMEM;
        *ret = s;
        *ret_len = (size_t) n;
        return 0;
}

static const char *find_header_end(const char *buf, size_t len) {
        for (size_t i = 0; i + 3 < len; i++)
                if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
                        return buf + i + 4;
        return NULL;
}

/* The header lines after the status line, up to `hend`: Content-Length. */
static int parse_headers(const char *buf, const char *hend, size_t *clen, bool *have_length) {
        const char *line, *e;

        line = memchr(buf, '\n', (size_t) (hend - buf));
        for (line = line + 1; line < hend - 2; line = e + 1) {
                e = memchr(line, '\n', (size_t) (hend - line));
                if (!e)
                        return -EBADMSG;
                size_t ll = (size_t) (e - line);
                if (ll > 0 && line[ll - 1] == '\r')
                        ll--;
                if (ll > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
                        char tmp[32];
                        char *end;
                        size_t vl = ll - 15;
                        if (vl >= sizeof tmp)
                                return -EBADMSG;
                        memcpy(tmp, line + 15, vl);
                        tmp[vl] = '\0';
                        errno = 0;
                        unsigned long long v = strtoull(tmp, &end, 10);
                        while (*end == ' ' || *end == '\t')
                                end++;
                        if (errno != 0 || *end != '\0' || end == tmp || v > 64 * 1024 * 1024)
                                return -EBADMSG;
                        *clen = (size_t) v;
                        *have_length = true;
                } else if (ll > 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0)
                        return -EPROTONOSUPPORT;
        }

        return 0;
}

int http_parse_response(const char *buf, size_t len, bool eof, unsigned *ret_status, size_t *ret_body_offset,
                        size_t *ret_body_len) {
        const char *hend;
        unsigned status;
        bool have_length = false;
        size_t clen = 0;
        int r;

        hend = find_header_end(buf, len);
        if (!hend)
                return eof ? -EBADMSG : -EAGAIN;

        /* Status line: HTTP/1.x SSS reason */
        if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
                return -EBADMSG;
        if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
                return -EBADMSG;
        status = (unsigned) ((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));

        r = parse_headers(buf, hend, &clen, &have_length);
        if (r < 0)
                return r;

        size_t off = (size_t) (hend - buf);
        if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
                clen = 0;
                have_length = true;
        }
        if (have_length) {
                if (len - off < clen)
                        return eof ? -EBADMSG : -EAGAIN;
        } else {
                if (!eof)
                        return -EAGAIN;
                clen = len - off;
        }

        *ret_status = status;
        *ret_body_offset = off;
        *ret_body_len = clen;
        return 0;
}

static int wait_fd(int fd, short events, usec_t deadline) {
        for (;;) {
                usec_t n = now_usec(CLOCK_MONOTONIC);
                struct pollfd p = { .fd = fd, .events = events };
                int r;

                if (n >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) ((deadline - n + 999) / 1000));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0;
        }
}

static int http_send(int fd, const char *req, size_t len, usec_t deadline) {
        size_t sent = 0;
        int r;

        while (sent < len) {
                ssize_t k = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
                if (k < 0 && errno == EAGAIN) {
                        r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k > 0)
                        sent += (size_t) k;
        }
        return 0;
}

/* Makes room for one more read. */
static int http_buffer_grow(char **buf, size_t n, size_t *size) {
        size_t ns;
        char *nb;

        if (n + 4096 + 1 <= *size)
                return 0;
        ns = *size ? *size * 2 : 8192;
        if (ns > 64 * 1024 * 1024)
                return -EFBIG;
        nb = realloc(*buf, ns);
        if (!nb)
                return -ENOMEM;
        *buf = nb;
        *size = ns;
        return 0;
}

/* Reads until the response is complete; returns its status. */
static int http_receive(int fd, usec_t deadline, char **ret_body) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size = 0;
        bool eof = false;
        int r;

        for (;;) {
                unsigned status;
                size_t off, blen;

                r = http_parse_response(buf ?: "", n, eof, &status, &off, &blen);
                if (r == 0) {
                        if (ret_body) {
                                char *b = strndup(buf + off, blen);
                                if (!b)
                                        return -ENOMEM;
                                *ret_body = b;
                        }
                        return (int) status;
                }
                if (r != -EAGAIN)
                        return r;

                r = http_buffer_grow(&buf, n, &size);
                if (r < 0)
                        return r;
                ssize_t k = recv(fd, buf + n, size - n - 1, 0);
                if (k < 0 && errno == EAGAIN) {
                        r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        eof = true;
                n += (size_t) k;
        }
}

int http_call(const char *socket_path, const char *method, const char *endpoint, const char *body, usec_t timeout,
              char **ret_body) {
        _cleanup_free_ char *req = NULL;
        _cleanup_close_ int fd = -EBADF;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        size_t req_len;
        int r;

        r = http_format_request(method, endpoint, body, &req, &req_len);
        if (r < 0)
                return r;

        /* Connecting to an AF_UNIX socket never returns EINPROGRESS; it either
         * succeeds, fails, or (backlog full) says EAGAIN. */
        fd = socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, socket_path);
        if (fd < 0)
                return fd;
        r = http_send(fd, req, req_len, deadline);
        if (r < 0)
                return r;
        return http_receive(fd, deadline, ret_body);
}
