/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "macro.h"
#include "socket-util.h"
#include "time-util.h"

#define SERIAL_FLUSH_DELAY (250 * USEC_PER_MSEC)

static void serial_data(Channel *ch, const char *buf, size_t len, void *userdata) {
        Console *c = userdata;

        if (channel_is_open(&c->client) && send(c->client.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
            errno != EAGAIN)
                channel_close(&c->client);

        if (c->serial.lines.n > 0)
                (void) sd_event_source_set_time_relative(c->flush_timer, SERIAL_FLUSH_DELAY),
                        (void) sd_event_source_set_enabled(c->flush_timer, SD_EVENT_ONESHOT);
}

static void serial_line(const char *line, size_t len, bool continued, void *userdata) {
        Console *c = userdata;

        c->on_line(line, len, continued, c->userdata);
}

static const ChannelOps serial_ops = {
        .on_line = serial_line,
        .on_data = serial_data,
};

/* What the client types goes to the guest. */
static void client_data(Channel *ch, const char *buf, size_t len, void *userdata) {
        Console *c = userdata;

        if (channel_is_open(&c->serial))
                (void) send(c->serial.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static const ChannelOps client_ops = {
        .on_data = client_data,
};

static int serial_flush(sd_event_source *s, uint64_t usec, void *userdata) {
        Console *c = userdata;

        /* A prompt ("login: ") has no newline; do not keep it back. */
        channel_flush(&c->serial);
        return 0;
}

int console_init(Console *c, sd_event *e, line_cb on_line, void *userdata) {
        int r;

        c->event = e;
        c->on_line = on_line;
        c->userdata = userdata;
        r = sd_event_add_time_relative(e, &c->flush_timer, CLOCK_MONOTONIC, SERIAL_FLUSH_DELAY, 0, serial_flush, c);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        (void) sd_event_source_set_enabled(c->flush_timer, SD_EVENT_OFF);
        return 0;
}

int console_attach_serial(Console *c, int fd) {
        int r;

        r = channel_open(&c->serial, c->event, fd, &serial_ops, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the serial console: %m");
        return 0;
}

static int console_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;
        int client;

        client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client < 0)
                return 0;
        /* One attached console at a time; the newest wins, like a serial line. */
        channel_close(&c->client);
        (void) channel_open(&c->client, c->event, client, &client_ops, c);
        return 0;
}

int console_listen(Console *c) {
        _cleanup_close_ int fd = -EBADF;
        mode_t old;
        int r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(c->socket_path);
        /* The console is root's: 0600 from the start, no window with a wider mode. */
        old = umask(0077);
        r = socket_bind_path(fd, c->socket_path);
        umask(old);
        if (r < 0)
                return r;
        if (listen(fd, 4) < 0)
                return -errno;
        r = sd_event_add_io(c->event, &c->listen_source, fd, EPOLLIN, console_accept, c);
        if (r < 0)
                return r;
        c->listen_fd = TAKE_FD(fd);
        return 0;
}

void console_set_reading(Console *c, bool on) {
        channel_set_reading(&c->serial, on);
}

void console_drain(Console *c) {
        channel_drain(&c->serial, 4096);
        channel_flush(&c->serial);
}

void console_done(Console *c) {
        c->flush_timer = sd_event_source_disable_unref(c->flush_timer);
        c->listen_source = sd_event_source_disable_unref(c->listen_source);
        c->listen_fd = safe_close(c->listen_fd);
        channel_close(&c->client);
        channel_close(&c->serial);
        if (c->socket_path)
                (void) unlink(c->socket_path);
        c->socket_path = mfree(c->socket_path);
}
