/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "channel.h"
#include "macro.h"
#include "socket-util.h"

#define CHANNEL_READ_MAX 16384

static int channel_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) channel_read(userdata);
        return 0;
}

int channel_open(Channel *c, sd_event *e, int fd, const ChannelOps *ops, void *userdata) {
        int r;

        assert(c->fd < 0 && !c->source);
        /* Our ends never block: the drain at the hypervisor's exit relies on it. */
        r = fd_set_nonblock(fd);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        *c = (Channel) { .fd = fd, .ops = ops, .userdata = userdata };
        r = sd_event_add_io(e, &c->source, fd, EPOLLIN, channel_io, c);
        if (r < 0)
                c->fd = safe_close(c->fd);
        return r;
}

void channel_flush(Channel *c) {
        if (c->ops && c->ops->on_line)
                line_buffer_flush(&c->lines, c->ops->on_line, c->userdata);
}

void channel_close(Channel *c) {
        c->source = sd_event_source_disable_unref(c->source);
        c->fd = safe_close(c->fd);
}

int channel_read(Channel *c) {
        char buf[CHANNEL_READ_MAX];
        ssize_t k;

        if (c->fd < 0)
                return 0;
        k = read(c->fd, buf, sizeof buf);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                channel_flush(c);
                channel_close(c);
                if (c->ops->on_eof)
                        c->ops->on_eof(c, c->userdata);
                return 0;
        }
        if (c->ops->on_line)
                line_buffer_feed(&c->lines, buf, (size_t) k, c->ops->on_line, c->userdata);
        if (c->ops->on_data)
                c->ops->on_data(c, buf, (size_t) k, c->userdata);
        return 1;
}

void channel_drain(Channel *c, unsigned max) {
        for (unsigned i = 0; i < max && channel_read(c) > 0; i++)
                ;
}

void channel_set_reading(Channel *c, bool on) {
        if (c->source)
                (void) sd_event_source_set_enabled(c->source, on ? SD_EVENT_ON : SD_EVENT_OFF);
}
