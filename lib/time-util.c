/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "time-util.h"

static const struct {
        const char *suffix;
        usec_t usec;
} time_units[] = {
        /* Longest first within each prefix: "ms" must not be read as "m" + "s". */
        { "seconds", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "s", USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "minute", 60 * USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "msec", USEC_PER_MSEC },
        { "ms", USEC_PER_MSEC },
        { "m", 60 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "hour", 3600 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
        { "usec", 1 },
        { "us", 1 },
};

int parse_timespan(const char *s, usec_t *ret) {
        usec_t total = 0;
        const char *p = s;
        bool any = false;

        if (streq(s, "infinity")) {
                *ret = USEC_INFINITY;
                return 0;
        }

        for (;;) {
                unsigned long long n;
                usec_t mult = USEC_PER_SEC;
                char *end;
                size_t len;

                p += strspn(p, " \t");
                if (*p == '\0')
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;

                errno = 0;
                n = strtoull(p, &end, 10);
                if (errno != 0)
                        return -ERANGE;
                p = end;

                len = strcspn(p, " \t0123456789");
                if (len > 0) {
                        bool found = false;

                        for (size_t i = 0; i < ELEMENTSOF(time_units); i++)
                                if (strlen(time_units[i].suffix) == len &&
                                    strncmp(p, time_units[i].suffix, len) == 0) {
                                        mult = time_units[i].usec;
                                        found = true;
                                        break;
                                }
                        if (!found)
                                return -EINVAL;
                        p += len;
                }

                if (n > (USEC_UNSET - 1 - total) / mult)
                        return -ERANGE;
                total += n * mult;
                any = true;
        }

        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

char *format_timespan_unit(char *buf, size_t size, usec_t t) {
        if (t == USEC_INFINITY)
                (void) snprintf(buf, size, "infinity");
        else if (t % USEC_PER_SEC == 0)
                (void) snprintf(buf, size, "%" PRIu64 "s", t / USEC_PER_SEC);
        else if (t % USEC_PER_MSEC == 0)
                (void) snprintf(buf, size, "%" PRIu64 "ms", t / USEC_PER_MSEC);
        else
                (void) snprintf(buf, size, "%" PRIu64 "us", t);
        return buf;
}

usec_t now_usec(int clock_id) {
        struct timespec ts;

        (void) clock_gettime(clock_id, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}
