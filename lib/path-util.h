/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

/* "a" + "/" + "b", without doubling a '/'. NULL on OOM. */
char *path_join(const char *a, const char *b);
char *path_join3(const char *a, const char *b, const char *c);
/* Absolute, no "//", no "." or ".." components, no trailing '/' (but "/"). */
bool path_is_normalized(const char *p);
bool path_has_dotdot(const char *p);
/* Relative, with no empty, "." or ".." component. */
bool path_is_safe_relative(const char *p);
/* A single path component: not empty, not "." or "..", no '/', < 256 bytes. */
bool filename_is_valid(const char *s);
/* A symlink to /dev/null: systemd's way of masking a file. `st` from lstat(). */
bool path_is_masked(const char *p, const struct stat *st);
/* Whether normalized absolute `path` is `prefix` or lies below it. */
bool path_is_below_or_at(const char *path, const char *prefix);
