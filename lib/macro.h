/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The few helpers every cowvm source file leans on: scope-bound cleanup in the
 * style of systemd's _cleanup_ macros (libsystemd does not export them), and
 * TAKE_PTR/TAKE_FD to hand ownership over explicitly.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define _TAKE(var, null)                                                                                              \
        ({                                                                                                            \
                __typeof__(var) _taken = (var);                                                                       \
                (var) = (null);                                                                                       \
                _taken;                                                                                               \
        })
#define TAKE_PTR(p) _TAKE(p, NULL)
#define TAKE_FD(fd) _TAKE(fd, -EBADF)

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Defines a cleanup function `namep(type **)` that calls `func` on non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                                       \
        static inline void func##p(type *p) {                                                                         \
                if (*p)                                                                                               \
                        func(*p);                                                                                     \
        }

/*
 * An errno value made up by the caller rather than reported by the kernel, as
 * in systemd: log_*_errno(SYNTHETIC_ERRNO(EINVAL), "...") logs and returns
 * -EINVAL. The flag marks, at the call site, that errno was not set and the
 * message must not use %m; the log functions strip it.
 */
#define SYNTHETIC_ERRNO_FLAG (1 << 30)
#define SYNTHETIC_ERRNO(num) (SYNTHETIC_ERRNO_FLAG | abs(num))
#define ERRNO_VALUE(val) (abs(val) & ~SYNTHETIC_ERRNO_FLAG)

/* Returns a negative errno from a libc-style failure, never 0. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *yes_no(int b) {
        return b ? "yes" : "no";
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strcaseeq(a, b) (strcasecmp((a), (b)) == 0)
#define isempty(s) (!(s) || (s)[0] == '\0')

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#include <dirent.h>
static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
