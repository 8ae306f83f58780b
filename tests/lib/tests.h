/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The assertions of every C test: CHECK(expr), CHECK_STREQ(a, b) and
 * TESTS_EXIT().
 *
 * A failed check prints file:line and what failed, counts, and the test goes
 * on: one run reports every failure, not only the first. A process that
 * failed a check cannot exit 0, however it ends its main() (TESTS_EXIT() or a
 * plain return): an exit hook turns the status into 1. A test that forks
 * and checks in the child must end the child with exit(), not _exit(), for
 * the child's failures to show in its status. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One counter per program, however many of its files include this: weak, so
 * that the linker merges the definitions. */
__attribute__((weak)) unsigned tests_failed;

#define CHECK(expr)                                                                                                   \
        do {                                                                                                          \
                if (!(expr)) {                                                                                        \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                      \
                        tests_failed++;                                                                               \
                }                                                                                                     \
        } while (0)

/* A check the rest of the test cannot go on without (a fork, a fixture):
 * a failure ends the test at once. */
#define REQUIRE(expr)                                                                                                 \
        do {                                                                                                          \
                if (!(expr)) {                                                                                        \
                        fprintf(stderr, "%s:%d: required check failed, stopping: %s\n", __FILE__, __LINE__, #expr);   \
                        exit(EXIT_FAILURE);                                                                           \
                }                                                                                                     \
        } while (0)

/* Either side NULL fails. Multi-line values are printed on lines of their
 * own, so that a differing line of a long text can be found. */
#define CHECK_STREQ(a, b)                                                                                             \
        do {                                                                                                          \
                const char *_a = (a), *_b = (b);                                                                      \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                                              \
                        fprintf(stderr, "%s:%d: %s == %s failed:\n--- got\n%s\n--- expected\n%s\n---\n", __FILE__,    \
                                __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");                            \
                        tests_failed++;                                                                               \
                }                                                                                                     \
        } while (0)

#define TESTS_EXIT() return tests_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS

/* Runs at exit() and after main() returns, in every process of the test. */
__attribute__((destructor)) static void tests_exit_hook(void) {
        if (tests_failed == 0)
                return;
        fprintf(stderr, "%u check(s) failed\n", tests_failed);
        fflush(NULL);
        _exit(EXIT_FAILURE);
}

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

/* A whole file of the test's data directory ($TEST_DATA_DIR, or an absolute
 * path). Aborts when it cannot be read: a missing fixture is no result. */
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
