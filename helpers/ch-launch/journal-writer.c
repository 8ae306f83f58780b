/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "journal-writer.h"
#include "macro.h"
#include "socket-util.h"

struct JournalRecord {
        JournalRecord *next;
        size_t len;
        char data[];
};

int journal_writer_open(JournalWriter *w, const char *path) {
        int fd, r, sz = 8 * 1024 * 1024;

        *w = (JournalWriter) { .fd = -EBADF };
        if (!path)
                path = getenv("COWVM_JOURNAL_SOCKET") ?: JOURNAL_SOCKET;

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A big send buffer absorbs a boot's burst; FORCE works as root. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        r = socket_connect_path(fd, path);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        w->fd = fd;
        return 0;
}

void journal_writer_done(JournalWriter *w) {
        while (w->head) {
                JournalRecord *r = w->head;
                w->head = r->next;
                free(r);
        }
        w->tail = NULL;
        w->queued_bytes = 0;
        w->fd = safe_close(w->fd);
}

int journal_record_format(const JournalField *fields, size_t n_fields, char **ret, size_t *ret_len) {
        size_t size = 0, n = 0;
        char *buf;

        for (size_t i = 0; i < n_fields; i++)
                size += strlen(fields[i].key) + 1 + 8 + fields[i].len + 1;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;

        for (size_t i = 0; i < n_fields; i++) {
                const JournalField *f = fields + i;
                size_t kl = strlen(f->key);

                memcpy(buf + n, f->key, kl);
                n += kl;
                if (memchr(f->value, '\n', f->len)) {
                        uint64_t le = htole64((uint64_t) f->len);
                        buf[n++] = '\n';
                        memcpy(buf + n, &le, sizeof le);
                        n += sizeof le;
                } else
                        buf[n++] = '=';
                memcpy(buf + n, f->value, f->len);
                n += f->len;
                buf[n++] = '\n';
        }
        *ret = buf;
        *ret_len = n;
        return 0;
}

static int queue_record(JournalWriter *w, const char *data, size_t len) {
        JournalRecord *r = malloc(sizeof *r + len);

        if (!r)
                return -ENOMEM;
        r->next = NULL;
        r->len = len;
        memcpy(r->data, data, len);
        if (w->tail)
                w->tail->next = r;
        else
                w->head = r;
        w->tail = r;
        w->queued_bytes += len;
        return 0;
}

int journal_writer_flush(JournalWriter *w) {
        while (w->head) {
                JournalRecord *r = w->head;

                if (send(w->fd, r->data, r->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)
                                return 0;
                        return -errno;
                }
                w->head = r->next;
                if (!w->head)
                        w->tail = NULL;
                w->queued_bytes -= r->len;
                free(r);
        }
        return 0;
}

int journal_writer_send(JournalWriter *w, const JournalField *fields, size_t n_fields) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        if (w->fd < 0)
                return -ENOTCONN;
        r = journal_record_format(fields, n_fields, &buf, &len);
        if (r < 0)
                return r;

        /* Keep the order: nothing overtakes what is already queued. */
        if (!w->head) {
                if (send(w->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
                        return 0;
                if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
                        return -errno;
        }
        return queue_record(w, buf, len);
}

bool console_escape(const char *line, size_t len, char *out, size_t *ret_len) {
        bool escaped = false;
        size_t n = 0;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) line[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        n += (size_t) sprintf(out + n, "\\x%02x", c);
                        escaped = true;
                } else
                        out[n++] = (char) c;
        }
        out[n] = '\0';
        *ret_len = n;
        return escaped;
}
