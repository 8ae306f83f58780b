/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "line-buffer.h"

static void emit(LineBuffer *b, bool complete, line_cb cb, void *userdata) {
        size_t n = b->n;

        if (complete && n > 0 && b->buf[n - 1] == '\r')
                n--;
        /* A complete line that is only the CR of a CRLF whose text went out
         * as a full piece: nothing to say. */
        if (!(complete && n == 0 && b->continued))
                cb(b->buf, n, b->continued, userdata);
        b->continued = !complete;
        b->n = 0;
}

void line_buffer_feed(LineBuffer *b, const char *data, size_t len, line_cb cb, void *userdata) {
        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t take = nl ? (size_t) (nl - data) : len;
                size_t room = sizeof b->buf - b->n;

                if (take >= room) {
                        memcpy(b->buf + b->n, data, room);
                        b->n += room;
                        data += room;
                        len -= room;
                        emit(b, false, cb, userdata);
                        continue;
                }
                memcpy(b->buf + b->n, data, take);
                b->n += take;
                data += take;
                len -= take;
                if (nl) {
                        data++;
                        len--;
                        emit(b, true, cb, userdata);
                }
        }
}

void line_buffer_flush(LineBuffer *b, line_cb cb, void *userdata) {
        if (b->n > 0)
                emit(b, false, cb, userdata);
}
