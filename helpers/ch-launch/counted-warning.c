/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "counted-warning.h"
#include "log.h"

void counted_warning_flush(CountedWarning *w, usec_t now) {
        if (w->count == 0)
                return;
        log_warning("%s %u line%s %s", w->what, w->count, w->count == 1 ? "" : "s", w->detail);
        w->count = 0;
        w->reported = now;
}

void counted_warning_count(CountedWarning *w, usec_t now) {
        w->count++;
        if (w->interval > 0 && (w->reported == 0 || now >= w->reported + w->interval))
                counted_warning_flush(w, now);
}
