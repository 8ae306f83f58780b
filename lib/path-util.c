/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "path-util.h"

char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        bool slash = la > 0 && a[la - 1] == '/';
        char *s;

        while (*b == '/')
                b++;
        if (asprintf(&s, "%s%s%s", a, slash ? "" : "/", b) < 0)
                return NULL;
        return s;
}

char *path_join3(const char *a, const char *b, const char *c) {
        _cleanup_free_ char *ab = path_join(a, b);

        return ab ? path_join(ab, c) : NULL;
}

static bool component_is_dot_or_dotdot(const char *p, size_t len) {
        return (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.');
}

bool path_is_normalized(const char *p) {
        if (p[0] != '/')
                return false;
        if (streq(p, "/"))
                return true;
        if (p[strlen(p) - 1] == '/')
                return false;
        for (const char *c = p + 1;;) {
                size_t len = strcspn(c, "/");

                if (len == 0 || component_is_dot_or_dotdot(c, len))
                        return false;
                if (c[len] == '\0')
                        return true;
                c += len + 1;
        }
}

bool path_has_dotdot(const char *p) {
        for (const char *c = p;;) {
                size_t len = strcspn(c, "/");

                if (len == 2 && c[0] == '.' && c[1] == '.')
                        return true;
                if (c[len] == '\0')
                        return false;
                c += len + 1;
        }
}

bool path_is_safe_relative(const char *p) {
        if (p[0] == '/' || p[0] == '\0')
                return false;
        for (const char *c = p;;) {
                size_t len = strcspn(c, "/");

                if (len == 0 || component_is_dot_or_dotdot(c, len))
                        return false;
                if (c[len] == '\0')
                        return true;
                c += len + 1;
        }
}

bool filename_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n < 256 && !streq(s, ".") && !streq(s, "..") && !strchr(s, '/');
}

bool path_is_masked(const char *p, const struct stat *st) {
        char target[sizeof("/dev/null")];
        ssize_t n;

        if (!S_ISLNK(st->st_mode))
                return false;
        n = readlink(p, target, sizeof target);
        return n == (ssize_t) strlen("/dev/null") && memcmp(target, "/dev/null", (size_t) n) == 0;
}

bool path_is_below_or_at(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        while (n > 1 && prefix[n - 1] == '/')
                n--;
        if (n == 1 && prefix[0] == '/')
                return path[0] == '/';
        return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
