/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "json-lite.h"
#include "macro.h"

static const char *skip_ws(const char *p, const char *e) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

/* Returns the end of the string starting at *p == '"', or NULL. */
static const char *skip_string(const char *p, const char *e) {
        for (p++; p < e; p++) {
                if (*p == '\\') {
                        p++;
                        continue;
                }
                if (*p == '"')
                        return p + 1;
                if ((unsigned char) *p < 0x20)
                        return NULL;
        }
        return NULL;
}

/* Returns the end of the value starting at p, or NULL if malformed. */
static const char *skip_value(const char *p, const char *e, unsigned depth) {
        if (p >= e || depth > 128)
                return NULL;
        if (*p == '"')
                return skip_string(p, e);
        if (*p == '{' || *p == '[') {
                char close = *p == '{' ? '}' : ']';
                bool object = *p == '{';

                p = skip_ws(p + 1, e);
                if (p < e && *p == close)
                        return p + 1;
                for (;;) {
                        if (object) {
                                if (p >= e || *p != '"')
                                        return NULL;
                                p = skip_string(p, e);
                                if (!p)
                                        return NULL;
                                p = skip_ws(p, e);
                                if (p >= e || *p != ':')
                                        return NULL;
                                p = skip_ws(p + 1, e);
                        }
                        p = skip_value(p, e, depth + 1);
                        if (!p)
                                return NULL;
                        p = skip_ws(p, e);
                        if (p >= e)
                                return NULL;
                        if (*p == close)
                                return p + 1;
                        if (*p != ',')
                                return NULL;
                        p = skip_ws(p + 1, e);
                }
        }
        /* number, true, false, null: a run of their characters */
        const char *s = p;
        while (p < e && *p && strchr("0123456789+-.eEtruefalsn", *p))
                p++;
        return p > s ? p : NULL;
}

int json_object_get(JsonSpan obj, const char *key, JsonSpan *ret) {
        const char *p = obj.p, *e = obj.p + obj.n;
        size_t klen = strlen(key);

        p = skip_ws(p, e);
        if (p >= e || *p != '{')
                return -EBADMSG;
        p = skip_ws(p + 1, e);
        if (p < e && *p == '}')
                return -ENOENT;

        for (;;) {
                const char *k, *kend, *v, *vend;

                if (p >= e || *p != '"')
                        return -EBADMSG;
                k = p + 1;
                kend = skip_string(p, e);
                if (!kend)
                        return -EBADMSG;
                p = skip_ws(kend, e);
                if (p >= e || *p != ':')
                        return -EBADMSG;
                v = skip_ws(p + 1, e);
                vend = skip_value(v, e, 0);
                if (!vend)
                        return -EBADMSG;
                /* Keys with escapes never match: none of ours has any. */
                if ((size_t) (kend - 1 - k) == klen && memcmp(k, key, klen) == 0) {
                        *ret = (JsonSpan) { v, (size_t) (vend - v) };
                        return 0;
                }
                p = skip_ws(vend, e);
                if (p < e && *p == '}')
                        return -ENOENT;
                if (p >= e || *p != ',')
                        return -EBADMSG;
                p = skip_ws(p + 1, e);
        }
}

int json_string_decode(JsonSpan v, char *buf, size_t size) {
        const char *p = v.p, *e = v.p + v.n;
        size_t n = 0;

        if (size == 0 || v.n < 2 || *p != '"' || e[-1] != '"')
                return -EINVAL;
        for (p++, e--; p < e; p++) {
                char c = *p;

                if (c == '\\') {
                        if (++p >= e)
                                return -EINVAL;
                        switch (*p) {
                        case 'n':
                                c = '\n';
                                break;
                        case 't':
                                c = '\t';
                                break;
                        case 'r':
                                c = '\r';
                                break;
                        case 'b':
                                c = '\b';
                                break;
                        case 'f':
                                c = '\f';
                                break;
                        case 'u': {
                                unsigned u = 0;
                                if (e - p < 5)
                                        return -EINVAL;
                                for (int i = 1; i <= 4; i++) {
                                        char h = p[i];
                                        u <<= 4;
                                        if (h >= '0' && h <= '9')
                                                u |= (unsigned) (h - '0');
                                        else if (h >= 'a' && h <= 'f')
                                                u |= (unsigned) (h - 'a' + 10);
                                        else if (h >= 'A' && h <= 'F')
                                                u |= (unsigned) (h - 'A' + 10);
                                        else
                                                return -EINVAL;
                                }
                                p += 4;
                                c = u > 0 && u < 0x80 ? (char) u : '?';
                                break;
                        }
                        default:
                                c = *p; /* \" \\ \/ */
                        }
                }
                if (n + 1 >= size)
                        return -ENOBUFS;
                buf[n++] = c;
        }
        buf[n] = '\0';
        return 0;
}

int json_get_string(JsonSpan obj, const char *key, char *buf, size_t size) {
        JsonSpan v;
        int r;

        r = json_object_get(obj, key, &v);
        if (r < 0)
                return r;
        return json_string_decode(v, buf, size);
}

int json_get_bool(JsonSpan obj, const char *key) {
        JsonSpan v;
        int r;

        r = json_object_get(obj, key, &v);
        if (r < 0)
                return r;
        if (v.n == 4 && memcmp(v.p, "true", 4) == 0)
                return 1;
        if (v.n == 5 && memcmp(v.p, "false", 5) == 0)
                return 0;
        return -EINVAL;
}

void json_stream_feed(JsonStream *s, const char *data, size_t len, json_object_cb cb, void *userdata) {
        for (size_t i = 0; i < len; i++) {
                char c = data[i];

                if (s->depth == 0 && c != '{')
                        continue; /* whitespace between objects */

                if (s->n < sizeof s->buf)
                        s->buf[s->n++] = c;
                else
                        s->overflow = true;

                if (s->in_string) {
                        if (s->escape)
                                s->escape = false;
                        else if (c == '\\')
                                s->escape = true;
                        else if (c == '"')
                                s->in_string = false;
                        continue;
                }
                if (c == '"')
                        s->in_string = true;
                else if (c == '{' || c == '[')
                        s->depth++;
                else if ((c == '}' || c == ']') && s->depth > 0 && --s->depth == 0) {
                        if (!s->overflow)
                                cb((JsonSpan) { s->buf, s->n }, userdata);
                        s->n = 0;
                        s->overflow = false;
                }
        }
}
