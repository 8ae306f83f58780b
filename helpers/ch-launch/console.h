/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The guest's serial console (ttyS0): its lines go to on_line (the journal),
 * and the console socket (vmm/console.sock, root's) lets one client at a
 * time attach to it interactively. The client is a viewer: one that does not
 * keep up misses output rather than stalling the guest.
 */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "channel.h"

typedef struct Console {
        sd_event *event;
        char *socket_path; /* set by the owner, freed here */
        Channel serial;    /* the host end of ttyS0 */
        Channel client;    /* the attached client, if any */
        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *flush_timer;
        line_cb on_line;
        void *userdata;
} Console;

#define CONSOLE_NULL                                                                                                  \
        { .serial = CHANNEL_NULL, .client = CHANNEL_NULL, .listen_fd = -EBADF }

int console_init(Console *c, sd_event *e, line_cb on_line, void *userdata);
/* The host end of ttyS0, once there is one; takes `fd`. */
int console_attach_serial(Console *c, int fd);
/* Listens on the console socket (0600 from the start). */
int console_listen(Console *c);
void console_set_reading(Console *c, bool on);
/* What the guest wrote last, at the hypervisor's end. */
void console_drain(Console *c);
void console_done(Console *c);
