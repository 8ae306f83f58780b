/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* NULL-terminated string vectors, the shape systemd uses for repeatable keys. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char *const *l);
static inline bool strv_isempty(char *const *l) {
        return !l || !*l;
}
/* Appends a copy of `value`. Returns 0 or -ENOMEM. */
int strv_extend(char ***l, const char *value);
/* strv_extend() of a formatted string. */
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);
/* Appends a copy of each of the NULL-terminated `values`. */
int strv_extend_many(char ***l, const char *const *values);
/* Deep copy; NULL in gives an empty vector. Returns NULL on OOM. */
char **strv_copy(char *const *l);

#define STRV_FOREACH(s, l) for (char *const *s = (l); s && *s; s++)
