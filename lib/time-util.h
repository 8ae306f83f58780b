/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stddef.h>

typedef uint64_t usec_t;

#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_UNSET ((usec_t) UINT64_MAX - 1)

/* Parses a systemd time span ("90", "90s", "1min 30s", "500ms", "infinity");
 * a bare number is seconds. Returns 0, or -EINVAL/-ERANGE. */
int parse_timespan(const char *s, usec_t *ret);

/* Formats a span the way unit files accept it: "infinity", "90s", "1500ms",
 * "20us". Returns `buf`. */
char *format_timespan_unit(char *buf, size_t size, usec_t t);

usec_t now_usec(int clock_id);
