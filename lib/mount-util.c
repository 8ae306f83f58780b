/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <libmount.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mount-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_table *, mnt_unref_table);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_iter *, mnt_free_iter);

void mount_info_done(MountInfo *m) {
        free(m->fstype);
        free(m->source);
        free(m->options);
        *m = (MountInfo) {};
}

int mount_find(const char *path, MountInfo *ret) {
        _cleanup_(mnt_unref_tablep) struct libmnt_table *t = NULL;
        _cleanup_(mnt_free_iterp) struct libmnt_iter *it = NULL;
        struct libmnt_fs *fs;
        int r;

        t = mnt_new_table();
        it = mnt_new_iter(MNT_ITER_BACKWARD);
        if (!t || !it)
                return -ENOMEM;
        r = mnt_table_parse_mtab(t, "/proc/self/mountinfo");
        if (r < 0)
                return r;

        /* Backwards: the last entry for a mount point is the one on top. */
        while ((r = mnt_table_next_fs(t, it, &fs)) == 0) {
                const char *target = mnt_fs_get_target(fs);

                if (!target || !streq(target, path))
                        continue;
                if (ret) {
                        const char *fstype = mnt_fs_get_fstype(fs), *source = mnt_fs_get_source(fs),
                                   *options = mnt_fs_get_fs_options(fs);
                        MountInfo m = {
                                .fstype = strdup(strempty(fstype)),
                                .source = strdup(strempty(source)),
                                .options = strdup(strempty(options)),
                        };
                        if (!m.fstype || !m.source || !m.options) {
                                mount_info_done(&m);
                                return -ENOMEM;
                        }
                        *ret = m;
                }
                return 1;
        }
        return r < 0 ? r : 0;
}

int mount_option_get(const char *options, const char *name, char **ret) {
        size_t n = strlen(name);
        const char *p = options;

        while (*p) {
                const char *start = p;
                char *value, *v;

                /* Options are separated by unescaped ','. */
                while (*p && *p != ',') {
                        if (*p == '\\' && p[1])
                                p++;
                        p++;
                }
                if ((size_t) (p - start) > n && strncmp(start, name, n) == 0 && start[n] == '=') {
                        value = v = malloc((size_t) (p - start) - n);
                        if (!value)
                                return -ENOMEM;
                        for (const char *s = start + n + 1; s < p; s++) {
                                if (*s == '\\' && s + 1 < p)
                                        s++;
                                *v++ = *s;
                        }
                        *v = '\0';
                        *ret = value;
                        return 1;
                }
                if (*p == ',')
                        p++;
        }
        return 0;
}
