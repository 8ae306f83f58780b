/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The plumbing every ch-launch read path shares: AF_UNIX addresses from
 * paths, the counted warning, and a Channel's lines, drain and EOF. */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "counted-warning.h"
#include "socket-util.h"
#include "tests.h"

static void test_sockaddr(void) {
        struct sockaddr_un sa;
        char path[sizeof sa.sun_path + 1];

        memset(path, 'a', sizeof path);
        path[0] = '/';
        path[sizeof sa.sun_path - 1] = '\0'; /* the longest that fits */
        CHECK(sockaddr_un_set_path(&sa, path) == (int) (offsetof(struct sockaddr_un, sun_path) + sizeof sa.sun_path));
        CHECK(sa.sun_family == AF_UNIX && strcmp(sa.sun_path, path) == 0);
        path[sizeof sa.sun_path - 1] = 'a';
        path[sizeof sa.sun_path] = '\0'; /* one more: never cut short */
        CHECK(sockaddr_un_set_path(&sa, path) == -ENAMETOOLONG);
        CHECK(socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC, path) == -ENAMETOOLONG);
        CHECK(sockaddr_un_set_path(&sa, "") == -EINVAL);
}

static void test_bind_connect(void) {
        char dir[] = "/tmp/test-channel.XXXXXX", *p;
        int l, c;

        CHECK(mkdtemp(dir));
        CHECK(asprintf(&p, "%s/s.sock", dir) > 0);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(l >= 0);
        CHECK(socket_bind_path(l, p) == 0);
        CHECK(listen(l, 1) == 0);
        c = socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC, p);
        CHECK(c >= 0);
        close(c);
        close(l);
        CHECK(unlink(p) == 0);
        CHECK(socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC, p) == -ENOENT);
        CHECK(rmdir(dir) == 0);
        free(p);
}

static void test_counted_warning(void) {
        CountedWarning limited = { .what = "Refused", .detail = "here.", .interval = 10 * USEC_PER_SEC };
        CountedWarning flushed = { .what = "Dropped", .detail = "there." };

        /* The first one at once, then at most once per interval, with the count. */
        counted_warning_count(&limited, 1);
        CHECK(limited.count == 0 && limited.reported == 1);
        counted_warning_count(&limited, 2);
        counted_warning_count(&limited, 3);
        CHECK(limited.count == 2);
        counted_warning_count(&limited, 1 + 10 * USEC_PER_SEC);
        CHECK(limited.count == 0 && limited.reported == 1 + 10 * USEC_PER_SEC);
        counted_warning_flush(&limited, 5 + 10 * USEC_PER_SEC);
        CHECK(limited.reported == 1 + 10 * USEC_PER_SEC); /* nothing to say */

        /* Without an interval: only when flushed. */
        counted_warning_count(&flushed, 1);
        counted_warning_count(&flushed, 2);
        CHECK(flushed.count == 2);
        counted_warning_flush(&flushed, 3);
        CHECK(flushed.count == 0);
}

typedef struct Seen {
        char lines[8][32];
        size_t n_lines, n_bytes;
        unsigned eofs;
} Seen;

static void seen_line(const char *line, size_t len, bool continued, void *userdata) {
        Seen *s = userdata;

        CHECK(s->n_lines < 8 && len < 32);
        memcpy(s->lines[s->n_lines], line, len);
        s->lines[s->n_lines++][len] = '\0';
}

static void seen_data(Channel *c, const char *buf, size_t len, void *userdata) {
        Seen *s = userdata;

        CHECK(s->n_lines > 0); /* after the chunk's lines */
        s->n_bytes += len;
}

static void seen_eof(Channel *c, void *userdata) {
        Seen *s = userdata;

        CHECK(!channel_is_open(c));
        s->eofs++;
}

static const ChannelOps seen_ops = { .on_line = seen_line, .on_data = seen_data, .on_eof = seen_eof };

static void test_channel(void) {
        Channel c = CHANNEL_NULL;
        Seen s = {};
        sd_event *e = NULL;
        int sp[2];

        CHECK(sd_event_new(&e) >= 0);
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
        CHECK(channel_open(&c, e, sp[0], &seen_ops, &s) >= 0);

        /* Lines as they come; a partial one waits. */
        CHECK(write(sp[1], "one\ntwo\r\npart", 13) == 13);
        CHECK(sd_event_run(e, 0) > 0);
        CHECK(s.n_lines == 2 && strcmp(s.lines[0], "one") == 0 && strcmp(s.lines[1], "two") == 0);
        CHECK(s.n_bytes == 13);
        /* The drain reads what is there without the loop and never blocks. */
        CHECK(write(sp[1], "ial\nx", 5) == 5);
        channel_drain(&c, 16);
        CHECK(s.n_lines == 3 && strcmp(s.lines[2], "partial") == 0);
        CHECK(channel_is_open(&c) && s.eofs == 0);
        /* EOF: the last partial line, closed, on_eof once. */
        close(sp[1]);
        CHECK(sd_event_run(e, 0) > 0);
        CHECK(s.n_lines == 4 && strcmp(s.lines[3], "x") == 0);
        CHECK(!channel_is_open(&c) && s.eofs == 1);
        CHECK(channel_read(&c) == 0 && s.eofs == 1);
        channel_close(&c);
        sd_event_unref(e);
}

int main(void) {
        test_sockaddr();
        test_bind_connect();
        test_counted_warning();
        test_channel();
        TESTS_EXIT();
}
