/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "guest-notify.h"
#include "line-buffer.h"

/* The length of the printable UTF-8 character at `s`, or 0: shortest form
 * only, no surrogates, nothing beyond U+10FFFF, no control characters. */
static size_t printable_char(const unsigned char *s, size_t len) {
        uint32_t c;
        size_t n;

        if (s[0] >= 0x20 && s[0] < 0x7f)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, c = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, c = s[0] & 0x07;
        else
                return 0; /* C0, DEL, a continuation byte, 0xc0/0xc1, 0xf5.. */
        if (len < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff) ||
            (c >= 0x80 && c <= 0x9f))
                return 0;
        return n;
}

/* Whether all of `v` is printable; *ret_cut: the longest prefix of whole
 * characters that fits GUEST_STATUS_MAX. */
static bool status_text_valid(const char *v, size_t len, size_t *ret_cut) {
        size_t i = 0, cut = 0;

        while (i < len) {
                size_t n = printable_char((const unsigned char *) v + i, len - i);
                if (n == 0)
                        return false;
                i += n;
                if (i <= GUEST_STATUS_MAX)
                        cut = i;
        }
        *ret_cut = cut;
        return true;
}

static bool is_assignment(const char *line, size_t len) {
        size_t i = 0;

        while (i < len && ((line[i] >= 'A' && line[i] <= 'Z') || (line[i] >= '0' && line[i] <= '9') || line[i] == '_'))
                i++;
        return i > 0 && i < len && line[i] == '=';
}

GuestNotify guest_notify_parse(const char *line, size_t len, const char **ret_value, size_t *ret_value_len) {
        size_t cut;

        if (!is_assignment(line, len))
                return GUEST_NOTIFY_OTHER;
        /* Only the first piece of a longer line can be this long: the rest
         * of the line, unseen yet, is part of the assignment. */
        if (len >= LINE_MAX_BYTES)
                return GUEST_NOTIFY_REFUSED;
        if (len == 7 && memcmp(line, "READY=1", 7) == 0)
                return GUEST_NOTIFY_READY;
        if (len >= 7 && memcmp(line, "STATUS=", 7) == 0 && status_text_valid(line + 7, len - 7, &cut)) {
                *ret_value = line + 7;
                *ret_value_len = cut;
                return GUEST_NOTIFY_STATUS;
        }
        return GUEST_NOTIFY_REFUSED;
}
