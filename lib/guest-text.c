/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-text.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"
#include "strv.h"

/* Lines of a text buffer: `line` without its '\n', `has_nl` whether it had one. */
#define FOREACH_LINE(p, line, len, has_nl)                                                                            \
        for (const char *p = (in ?: ""), *line;                                                                       \
             *p && (line = p, len = strcspn(p, "\n"), has_nl = p[len] == '\n', p += len + (has_nl ? 1 : 0), true);)

int memstream_finish(FILE *f, char **buf, char **ret) {
        assert(f && buf && ret);
        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                free(*buf);
                *buf = NULL;
                return -ENOMEM;
        }
        fclose(f);
        *ret = TAKE_PTR(*buf);
        return 0;
}

static bool fstab_source_is_block_device(const char *spec, size_t n) {
        static const char *const prefixes[] = { "LABEL=", "UUID=", "PARTUUID=", "PARTLABEL=", "ID=", "/dev/" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (n >= strlen(prefixes[i]) && strncmp(spec, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return false;
}

int fstab_rewrite(const char *in, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, len;
        bool has_nl, root_done = false, last_nl = true;
        FILE *f;

        assert(ret);
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        FOREACH_LINE(p, line, len, has_nl) {
                const char *s = line, *end = line + len, *spec, *file;
                size_t spec_len, file_len;

                last_nl = has_nl;
                s += strspn(s, " \t");
                if (s >= end || *s == '#') {
                        fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
                        continue;
                }
                spec = s;
                spec_len = strcspn(spec, " \t\n");
                file = spec + spec_len;
                file += strspn(file, " \t");
                file_len = file < end ? strcspn(file, " \t\n") : 0;

                if (file_len == 1 && file[0] == '/') {
                        /* The root is the virtio-fs share, whatever the image said. */
                        if (root_done)
                                fprintf(f, COWVM_FSTAB_DISABLED "%.*s\n", (int) len, line);
                        else
                                fputs(GUEST_ROOT_FSTAB_LINE "\n", f);
                        root_done = true;
                        last_nl = true;
                } else if (fstab_source_is_block_device(spec, spec_len)) {
                        /* A disk the VM does not have: systemd would wait 90 s for it. */
                        fprintf(f, COWVM_FSTAB_DISABLED "%.*s\n", (int) len, line);
                        last_nl = true;
                } else
                        fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
        }
        if (!root_done)
                fprintf(f, "%s" GUEST_ROOT_FSTAB_LINE "\n", last_nl ? "" : "\n");
        return memstream_finish(f, &buf, ret);
}

int hosts_rewrite(const char *in, const char *hostname, char **ret) {
        _cleanup_free_ char *buf = NULL, *ours = NULL;
        size_t size = 0, len;
        bool has_nl, done = false, last_nl = true;
        const char *dot;
        FILE *f;

        assert(hostname && ret);
        dot = strchr(hostname, '.');

        /* Debian's convention: the FQDN first, then the short name. */
        if (dot ? asprintf(&ours, "127.0.1.1\t%s %.*s\n", hostname, (int) (dot - hostname), hostname) < 0
                : asprintf(&ours, "127.0.1.1\t%s\n", hostname) < 0)
                return -ENOMEM;

        /* No /etc/hosts at all: Debian's, with our line. */
        if (!in)
                in = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n";
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        FOREACH_LINE(p, line, len, has_nl) {
                const char *s = line + strspn(line, " \t");
                size_t n = strcspn(s, " \t\n#");
                bool is_ours = n == 9 && strncmp(s, "127.0.1.1", 9) == 0;
                bool is_loopback = n == 9 && strncmp(s, "127.0.0.1", 9) == 0;

                if (is_ours) {
                        /* Our line replaces the first 127.0.1.1 line; a second
                         * one would make the name ambiguous. */
                        if (!done)
                                fputs(ours, f);
                        done = true;
                        last_nl = true;
                        continue;
                }
                fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
                last_nl = has_nl;
                if (is_loopback && !done && has_nl) {
                        fputs(ours, f);
                        done = true;
                }
        }
        if (!done)
                fprintf(f, "%s%s", last_nl ? "" : "\n", ours);
        return memstream_finish(f, &buf, ret);
}

int shadow_rewrite(const char *in, const char *user, const char *hash, char **ret) {
        size_t ulen, len;
        bool has_nl;

        assert(user && hash && ret);
        ulen = strlen(user);

        FOREACH_LINE(p, line, len, has_nl) {
                const char *field2, *field2_end;
                char *s;

                if (len <= ulen || strncmp(line, user, ulen) != 0 || line[ulen] != ':')
                        continue;
                field2 = line + ulen + 1;
                field2_end = memchr(field2, ':', (size_t) (line + len - field2));
                if (!field2_end)
                        return -EUCLEAN;
                /* Everything but field 2 of this one line stays byte for byte. */
                if (asprintf(&s, "%.*s%s%s", (int) (field2 - in), in, hash, field2_end) < 0)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        return -ESRCH;
}

void passwd_entry_done(PasswdEntry *e) {
        assert(e);
        free(e->home);
        *e = (PasswdEntry) {};
}

int passwd_lookup(const char *in, const char *user, PasswdEntry *ret) {
        size_t ulen, len;
        bool has_nl;

        assert(user && ret);
        ulen = strlen(user);

        FOREACH_LINE(p, line, len, has_nl) {
                const char *f[7];
                size_t n[7], k = 0;
                char uid_s[16], gid_s[16];
                unsigned uid, gid;
                _cleanup_free_ char *home = NULL;

                if (len <= ulen || strncmp(line, user, ulen) != 0 || line[ulen] != ':')
                        continue;

                /* name:password:uid:gid:gecos:home:shell, exactly seven fields. */
                for (const char *s = line, *end = line + len; k < 7; k++) {
                        const char *colon = memchr(s, ':', (size_t) (end - s));

                        f[k] = s;
                        n[k] = colon ? (size_t) (colon - s) : (size_t) (end - s);
                        if (!colon) {
                                k++;
                                break;
                        }
                        s = colon + 1;
                }
                if (k != 7 || f[6] + n[6] != line + len)
                        return -EUCLEAN;
                if (n[2] == 0 || n[2] >= sizeof(uid_s) || n[3] == 0 || n[3] >= sizeof(gid_s))
                        return -EUCLEAN;
                snprintf(uid_s, sizeof(uid_s), "%.*s", (int) n[2], f[2]);
                snprintf(gid_s, sizeof(gid_s), "%.*s", (int) n[3], f[3]);
                /* (uid_t) -1 means "unchanged" to chown(): never a real owner. */
                if (parse_unsigned(uid_s, 0, 0xfffffffeU, &uid) < 0 || parse_unsigned(gid_s, 0, 0xfffffffeU, &gid) < 0)
                        return -EUCLEAN;
                home = strndup(f[5], n[5]);
                if (!home)
                        return -ENOMEM;
                if (!path_is_normalized(home) || string_has_cc(home))
                        return -EUCLEAN;
                *ret = (PasswdEntry) { .uid = uid, .gid = gid, .home = TAKE_PTR(home) };
                return 0;
        }
        return -ESRCH;
}

int authorized_keys_rewrite(const char *in, char *const *keys, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, len;
        bool has_nl, in_block = false, last_nl = true;
        FILE *f;

        assert(ret);
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        /* Drop our old block, keep every other line as it was. A BEGIN
         * without END (someone cut the file) is ours up to the end. */
        FOREACH_LINE(p, line, len, has_nl) {
                bool begin = len == strlen(COWVM_KEYS_BEGIN) && strncmp(line, COWVM_KEYS_BEGIN, len) == 0;
                bool end = len == strlen(COWVM_KEYS_END) && strncmp(line, COWVM_KEYS_END, len) == 0;

                if (begin) {
                        in_block = true;
                        continue;
                }
                if (in_block) {
                        if (end)
                                in_block = false;
                        continue;
                }
                fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
                last_nl = has_nl;
        }
        if (!strv_isempty(keys)) {
                fprintf(f, "%s" COWVM_KEYS_BEGIN "\n", last_nl ? "" : "\n");
                STRV_FOREACH (k, keys)
                        fprintf(f, "%s\n", *k);
                fputs(COWVM_KEYS_END "\n", f);
        }
        return memstream_finish(f, &buf, ret);
}
