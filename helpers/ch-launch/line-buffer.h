/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Splits a byte stream (a guest's serial console, its notify channel, a
 * hypervisor's stderr) into lines. A line longer than LINE_MAX_BYTES is passed on
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
