/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The guest's notify channel (hvc0), read as the readiness protocol of
 * docs/design.md (guest-notify.h): READY=1 and printable STATUS= go to the
 * owner, STATUS= coalesced to one per GUEST_STATUS_INTERVAL (the latest
 * wins); every other line is journaled at debug level. hvc0 is never paused:
 * it carries READY=1, and QEMU discards what the guest writes to a
 * virtconsole nobody reads anyway. So while the journal queue is full its
 * other lines are dropped; refused and dropped lines are warned about with
 * their count.
 */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "channel.h"
#include "counted-warning.h"
#include "guest-notify.h"

typedef struct GuestChannelOps {
        void (*ready)(void *userdata);
        void (*status)(const char *text, void *userdata);
        /* A line that is not ours to act on, to be journaled. */
        void (*line)(const char *line, size_t len, bool continued, void *userdata);
        bool (*congested)(void *userdata);
} GuestChannelOps;

typedef struct GuestChannel {
        sd_event *event;
        Channel channel;
        sd_event_source *status_timer;
        char status[GUEST_STATUS_MAX + 1];
        bool status_pending;
        CountedWarning refused, dropped;
        const GuestChannelOps *ops;
        void *userdata;
} GuestChannel;

#define GUEST_CHANNEL_NULL                                                                                            \
        { .channel = CHANNEL_NULL }

int guest_channel_init(GuestChannel *g, sd_event *e, const GuestChannelOps *ops, void *userdata);
/* The host end of hvc0; takes `fd`. */
int guest_channel_open(GuestChannel *g, int fd);
/* At the hypervisor's end: what is left, and the counts. No more STATUS=. */
void guest_channel_drain(GuestChannel *g);
void guest_channel_done(GuestChannel *g);
