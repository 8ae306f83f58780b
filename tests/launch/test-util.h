/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Assertions for the launch tests: print where and what, then abort. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(expr)                                                                                                   \
        do {                                                                                                          \
                if (!(expr)) {                                                                                        \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                      \
                        abort();                                                                                      \
                }                                                                                                     \
        } while (0)

#define CHECK_STR(a, b)                                                                                               \
        do {                                                                                                          \
                const char *_a = (a), *_b = (b);                                                                      \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                                              \
                        fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, _a ?: "(null)",              \
                                _b ?: "(null)");                                                                      \
                        abort();                                                                                      \
                }                                                                                                     \
        } while (0)

/* argv as one string, arguments separated by '|', for readable comparisons. */
static inline char *argv_join(char **argv) {
        size_t n = 1;
        char *s, *p;

        for (char **a = argv; *a; a++)
                n += strlen(*a) + 1;
        s = p = calloc(1, n);
        if (!s)
                abort();
        for (char **a = argv; *a; a++)
                p += sprintf(p, "%s%s", a == argv ? "" : "|", *a);
        return s;
}

/* Reads a whole file of the test data directory ($TEST_DATA_DIR). */
static inline char *read_data(const char *name, size_t *ret_len) {
        char path[4096];
        FILE *f;
        char *buf;
        long n;

        if (name[0] == '/')
                snprintf(path, sizeof path, "%s", name);
        else
                snprintf(path, sizeof path, "%s/%s", getenv("TEST_DATA_DIR") ?: "data", name);
        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "cannot open %s\n", path);
                abort();
        }
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = malloc((size_t) n + 1);
        if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n)
                abort();
        buf[n] = '\0';
        fclose(f);
        if (ret_len)
                *ret_len = (size_t) n;
        return buf;
}
