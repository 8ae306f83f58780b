/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "guest-channel.h"
#include "log.h"

/* The guest's STATUS= reaches systemd (and the log) at most this often; the
 * latest wins. Each one costs PID 1 a message and a unit property change. */
#define GUEST_STATUS_INTERVAL (250 * USEC_PER_MSEC)
/* How often, at most, refused lines on hvc0 are reported (with their count). */
#define REFUSED_REPORT_INTERVAL (10 * USEC_PER_SEC)

static usec_t guest_channel_now(GuestChannel *g) {
        usec_t now = 0;

        (void) sd_event_now(g->event, CLOCK_MONOTONIC, &now);
        return now;
}

static void status_send(GuestChannel *g) {
        g->status_pending = false;
        g->ops->status(g->status, g->userdata);
        /* The next one waits for the timer, counted from now rather than from
         * the start of this loop iteration, so that no two are closer. */
        (void) sd_event_source_set_time(g->status_timer, now_usec(CLOCK_MONOTONIC) + GUEST_STATUS_INTERVAL);
        (void) sd_event_source_set_enabled(g->status_timer, SD_EVENT_ONESHOT);
}

static int status_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        GuestChannel *g = userdata;

        if (g->status_pending)
                status_send(g);
        return 0;
}

/* `v` was checked by guest_notify_parse(): printable, at most GUEST_STATUS_MAX. */
static void status_set(GuestChannel *g, const char *v, size_t vl) {
        int enabled = SD_EVENT_OFF;

        memcpy(g->status, v, vl);
        g->status[vl] = '\0';
        g->status_pending = true;
        (void) sd_event_source_get_enabled(g->status_timer, &enabled);
        if (enabled == SD_EVENT_OFF)
                status_send(g);
}

static void guest_line(const char *line, size_t len, bool continued, void *userdata) {
        GuestChannel *g = userdata;
        const char *v;
        size_t vl;

        switch (continued ? GUEST_NOTIFY_OTHER : guest_notify_parse(line, len, &v, &vl)) {
        case GUEST_NOTIFY_READY:
                g->ops->ready(g->userdata);
                return;
        case GUEST_NOTIFY_STATUS:
                if (vl > 0)
                        status_set(g, v, vl);
                return;
        case GUEST_NOTIFY_REFUSED:
                counted_warning_count(&g->refused, guest_channel_now(g));
                break;
        default:
                break;
        }
        /* Not ours to act on, but worth keeping, unless the journal queue is full. */
        if (g->ops->congested(g->userdata)) {
                counted_warning_count(&g->dropped, 0);
                return;
        }
        counted_warning_flush(&g->dropped, 0);
        g->ops->line(line, len, continued, g->userdata);
}

static const ChannelOps guest_channel_ops = {
        .on_line = guest_line,
};

int guest_channel_init(GuestChannel *g, sd_event *e, const GuestChannelOps *ops, void *userdata) {
        int r;

        g->event = e;
        g->ops = ops;
        g->userdata = userdata;
        g->refused = (CountedWarning) {
                .what = "Refused",
                .detail = "on the notify channel (hvc0): only READY=1 and STATUS= with printable UTF-8 text are "
                          "accepted (ch-launch(8)); the lines are in the journal at debug level.",
                .interval = REFUSED_REPORT_INTERVAL,
        };
        g->dropped = (CountedWarning) {
                .what = "Dropped",
                .detail = "of the notify channel (hvc0) that were neither READY=1 nor STATUS=, while the journal "
                          "did not keep up.",
        };
        r = sd_event_add_time_relative(e, &g->status_timer, CLOCK_MONOTONIC, GUEST_STATUS_INTERVAL, USEC_PER_MSEC,
                                       status_timer_fired, g);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        (void) sd_event_source_set_enabled(g->status_timer, SD_EVENT_OFF);
        return 0;
}

int guest_channel_open(GuestChannel *g, int fd) {
        return channel_open(&g->channel, g->event, fd, &guest_channel_ops, g);
}

void guest_channel_drain(GuestChannel *g) {
        channel_drain(&g->channel, 4096);
        /* The final STATUS= is the owner's. */
        (void) sd_event_source_set_enabled(g->status_timer, SD_EVENT_OFF);
        counted_warning_flush(&g->refused, guest_channel_now(g));
        counted_warning_flush(&g->dropped, 0);
}

void guest_channel_done(GuestChannel *g) {
        g->status_timer = sd_event_source_disable_unref(g->status_timer);
        channel_close(&g->channel);
}
