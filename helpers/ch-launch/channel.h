/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One byte stream ch-launch reads: an fd, its sd-event io source and, for a
 * stream of lines, a LineBuffer. Every read end ch-launch has (the guest's
 * serial console and notify channel, the hypervisor's stderr, QMP, Cloud
 * Hypervisor's event monitor, an attached console client) is one of these,
 * so they all end the same way: at EOF or a read error the pending partial
 * line is passed on, the fd closed and the source dropped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "line-buffer.h"

typedef struct Channel Channel;

typedef struct ChannelOps {
        /* Each line (on_line NULL: the stream is not split into lines). */
        line_cb on_line;
        /* Each chunk as read, after its lines were passed on. */
        void (*on_data)(Channel *c, const char *buf, size_t len, void *userdata);
        /* After the channel closed at EOF or a read error. */
        void (*on_eof)(Channel *c, void *userdata);
} ChannelOps;

struct Channel {
        int fd;
        sd_event_source *source;
        LineBuffer lines;
        const ChannelOps *ops;
        void *userdata;
};

#define CHANNEL_NULL                                                                                                  \
        { .fd = -EBADF }

/* Takes `fd` (also on failure), makes it non-blocking and reads it on `e`. */
int channel_open(Channel *c, sd_event *e, int fd, const ChannelOps *ops, void *userdata);
static inline bool channel_is_open(const Channel *c) {
        return c->fd >= 0;
}
/* One read. Returns 1 when data came, 0 otherwise (nothing yet, or closed). */
int channel_read(Channel *c);
/* Reads what is there, at most `max` reads; a partial line stays pending. */
void channel_drain(Channel *c, unsigned max);
/* Passes on a pending partial line. */
void channel_flush(Channel *c);
/* Stops or resumes reading (backpressure). */
void channel_set_reading(Channel *c, bool on);
/* Closes without a last line or on_eof. */
void channel_close(Channel *c);
