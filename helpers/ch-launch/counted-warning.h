/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A warning about lines ch-launch refused or dropped, said with their count
 * instead of once per line: a guest that sends a million bad lines costs
 * the log a few messages, not a million.
 */

#include "time-util.h"

typedef struct CountedWarning {
        /* "<what> N line(s) <detail>" */
        const char *what;
        const char *detail;
        /* Said at most this often while counting; 0: only when flushed. */
        usec_t interval;
        unsigned count; /* since the last warning */
        usec_t reported;
} CountedWarning;

/* One more line; warns now if the interval allows it. */
void counted_warning_count(CountedWarning *w, usec_t now);
/* Warns about what was counted since the last warning, if anything. */
void counted_warning_flush(CountedWarning *w, usec_t now);
