/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "path-util.h"
#include "unit-name.h"

static char *escape_byte(char *t, unsigned char c) {
        static const char hex[] = "0123456789abcdef";

        *t++ = '\\';
        *t++ = 'x';
        *t++ = hex[c >> 4];
        *t++ = hex[c & 15];
        return t;
}

/* The escaping of systemd's unit_name_path_escape(): '/' separates, every
 * byte outside [A-Za-z0-9:_.] (and a leading '.') becomes \xNN. */
int unit_name_from_path(const char *path, const char *suffix, char **ret) {
        size_t n;
        char *s, *t;

        if (!path_is_normalized(path))
                return -EINVAL;
        path++;
        if (*path == '\0')
                path = "-"; /* the root directory */

        n = strlen(path);
        s = malloc(n * 4 + strlen(suffix) + 1);
        if (!s)
                return -ENOMEM;

        t = s;
        for (const char *p = path; *p; p++) {
                unsigned char c = (unsigned char) *p;

                if (streq(path, "-")) {
                        *t++ = '-';
                        break;
                }
                if (c == '/')
                        *t++ = '-';
                else if (isalnum(c) || c == ':' || c == '_' || (c == '.' && p != path && p[-1] != '/'))
                        *t++ = (char) c;
                else
                        t = escape_byte(t, c);
        }
        strcpy(t, suffix);
        *ret = s;
        return 0;
}
