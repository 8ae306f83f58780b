/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Minimal assertions for the C unit tests: report file:line and the
 * expression, count failures, exit non-zero at the end. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

static unsigned tests_failed;

#define CHECK(expr)                                                                                                   \
        do {                                                                                                          \
                if (!(expr)) {                                                                                        \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                      \
                        tests_failed++;                                                                               \
                }                                                                                                     \
        } while (0)

#define CHECK_STREQ(a, b)                                                                                             \
        do {                                                                                                          \
                const char *_a = (a), *_b = (b);                                                                      \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                                              \
                        fprintf(stderr, "%s:%d: \"%s\" != \"%s\" (%s)\n", __FILE__, __LINE__, _a ? _a : "(null)",     \
                                _b ? _b : "(null)", #a);                                                              \
                        tests_failed++;                                                                               \
                }                                                                                                     \
        } while (0)

#define TESTS_EXIT() return tests_failed > 0 ? 1 : 0
