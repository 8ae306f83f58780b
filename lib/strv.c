/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

char **strv_free(char **l) {
        STRV_FOREACH (s, l)
                free(*s);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        STRV_FOREACH (s, l)
                n++;
        return n;
}

int strv_extend(char ***l, const char *value) {
        size_t n = strv_length(*l);
        char *copy, **grown;

        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        grown = realloc(*l, sizeof(char *) * (n + 2));
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        grown[n] = copy;
        grown[n + 1] = NULL;
        *l = grown;
        return 0;
}

int strv_extendf(char ***l, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_extend(l, s);
}

int strv_extend_many(char ***l, const char *const *values) {
        for (; *values; values++) {
                int r = strv_extend(l, *values);
                if (r < 0)
                        return r;
        }
        return 0;
}

char **strv_copy(char *const *l) {
        _cleanup_strv_free_ char **copy = calloc(1, sizeof(char *));

        if (!copy)
                return NULL;
        STRV_FOREACH (s, l)
                if (strv_extend(&copy, *s) < 0)
                        return NULL;
        return TAKE_PTR(copy);
}
