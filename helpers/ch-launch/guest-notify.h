/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's side of the readiness protocol of docs/design.md: one line of
 * its notify channel (hvc0) at a time. Pure, unit tested. */

#include <stddef.h>

/* What a line of the guest's notify channel (hvc0) says; see guest_notify_parse().
 * Every byte of it is the guest's: only what passes here reaches systemd. */
typedef enum GuestNotify {
        GUEST_NOTIFY_OTHER,   /* not an assignment: a line like a console line */
        GUEST_NOTIFY_READY,   /* exactly READY=1 */
        GUEST_NOTIFY_STATUS,  /* STATUS=text; *ret_value points into the line */
        GUEST_NOTIFY_REFUSED, /* KEY=... that is not one of the above, as it is */
} GuestNotify;

/* The longest STATUS= text passed on, in bytes; longer text is cut at the
 * last whole character within it. systemctl status shows one line anyway. */
#define GUEST_STATUS_MAX 256

/* Parses one line of the sd_notify-style protocol of docs/design.md. Only
 * "READY=1" and "STATUS=" with printable text count: valid UTF-8 without C0
 * or C1 control characters or DEL, so that nothing a guest sends can split
 * into assignments of its own on the way to systemd (which splits at '\r'
 * as well as '\n'). A line of LINE_MAX_BYTES or more (it came in pieces) is
 * refused: its rest is not in view. */
GuestNotify guest_notify_parse(const char *line, size_t len, const char **ret_value, size_t *ret_value_len);
