/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Splits a byte stream (a guest's serial console, a hypervisor's stderr)
 * into lines for the journal. A line longer than LINE_MAX_BYTES is passed on
 * in pieces of that size: nothing is ever dropped. The trailing '\r' of a
 * CRLF (serial consoles and ttys with ONLCR send them) is removed.
 */

#include <stdbool.h>
#include <stddef.h>

#define LINE_MAX_BYTES 4096

typedef void (*line_cb)(const char *line, size_t len, bool continued, void *userdata);

typedef struct LineBuffer {
        char buf[LINE_MAX_BYTES];
        size_t n;
        bool continued; /* the next piece continues a line already passed on */
} LineBuffer;

void line_buffer_feed(LineBuffer *b, const char *data, size_t len, line_cb cb, void *userdata);
/* Passes on a pending partial line (at EOF, or when it sat too long: a login prompt). */
void line_buffer_flush(LineBuffer *b, line_cb cb, void *userdata);

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

/* Escapes C0 control characters but '\t' (and DEL) as \xNN so that a console
 * line with ANSI colour codes stays readable text in the journal instead of a
 * blob. Returns true if anything was escaped. `out` must hold 4*len+1 bytes. */
bool console_escape(const char *line, size_t len, char *out, size_t *ret_len);
