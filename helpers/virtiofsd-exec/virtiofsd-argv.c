/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>

#include "strv.h"
#include "virtiofsd-argv.h"

static const char *const flavour_table[_VIRTIOFSD_FLAVOUR_MAX] = {
        [VIRTIOFSD_RUST] = "rust",
        [VIRTIOFSD_C] = "c",
};

const char *virtiofsd_flavour_to_string(VirtiofsdFlavour f) {
        return f >= 0 && f < _VIRTIOFSD_FLAVOUR_MAX ? flavour_table[f] : NULL;
}

VirtiofsdFlavour virtiofsd_flavour_from_string(const char *s) {
        for (int i = 0; s && i < _VIRTIOFSD_FLAVOUR_MAX; i++)
                if (streq(s, flavour_table[i]))
                        return i;
        return _VIRTIOFSD_FLAVOUR_INVALID;
}

VirtiofsdFlavour virtiofsd_flavour_from_version(const char *output) {
        const char *p;

        if (!output)
                return _VIRTIOFSD_FLAVOUR_INVALID;
        p = strstr(output, "virtiofsd ");
        if (!p)
                return _VIRTIOFSD_FLAVOUR_INVALID;
        p += strlen("virtiofsd ");
        if (strncmp(p, "version ", 8) == 0)
                return VIRTIOFSD_C;
        if (*p >= '0' && *p <= '9')
                return VIRTIOFSD_RUST;
        return _VIRTIOFSD_FLAVOUR_INVALID;
}

VirtiofsdFlavour virtiofsd_flavour_from_path(const char *path) {
        if (streq(path, "/usr/libexec/virtiofsd"))
                return VIRTIOFSD_RUST;
        if (streq(path, "/usr/lib/qemu/virtiofsd"))
                return VIRTIOFSD_C;
        return _VIRTIOFSD_FLAVOUR_INVALID;
}

/* Appends prefix + decimal u. */
static int strv_extend_unsigned(char ***l, const char *prefix, unsigned u) {
        char buf[64];

        (void) snprintf(buf, sizeof buf, "%s%u", prefix, u);
        return strv_extend(l, buf);
}

static int strv_extend_concat(char ***l, const char *a, const char *b) {
        _cleanup_free_ char *x = NULL;

        if (asprintf(&x, "%s%s", a, b) < 0)
                return -ENOMEM;
        return strv_extend(l, x);
}

int virtiofsd_build_argv(VirtiofsdFlavour flavour, const char *binary, const char *shared_dir, int fd,
                         VirtiofsCache cache, unsigned thread_pool_size, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        int r;

        if (flavour < 0 || flavour >= _VIRTIOFSD_FLAVOUR_MAX || fd < 0 || !shared_dir)
                return -EINVAL;
        if (cache < 0 || cache >= _VIRTIOFS_CACHE_MAX)
                return -EINVAL;

        r = strv_extend(&a, binary);
        if (r < 0)
                return r;

        if (flavour == VIRTIOFSD_RUST) {
                static const char *const caches[] = {
                        [VIRTIOFS_CACHE_AUTO] = "auto",
                        [VIRTIOFS_CACHE_ALWAYS] = "always",
                        [VIRTIOFS_CACHE_NEVER] = "never",
                };
                if ((r = strv_extend(&a, "--shared-dir")) < 0 || (r = strv_extend(&a, shared_dir)) < 0 ||
                    (r = strv_extend(&a, "--fd")) < 0 || (r = strv_extend_unsigned(&a, "", (unsigned) fd)) < 0 ||
                    (r = strv_extend(&a, "--cache")) < 0 || (r = strv_extend(&a, caches[cache])) < 0 ||
                    (r = strv_extend(&a, "--sandbox")) < 0 || (r = strv_extend(&a, "namespace")) < 0)
                        return r;
                if (thread_pool_size > 0 && ((r = strv_extend(&a, "--thread-pool-size")) < 0 ||
                                             (r = strv_extend_unsigned(&a, "", thread_pool_size)) < 0))
                        return r;
        } else {
                /* The C virtiofsd splits -o values at ',' with no escaping: a
                 * source containing one cannot be expressed. */
                static const char *const caches[] = {
                        [VIRTIOFS_CACHE_AUTO] = "cache=auto",
                        [VIRTIOFS_CACHE_ALWAYS] = "cache=always",
                        [VIRTIOFS_CACHE_NEVER] = "cache=none",
                };
                if (strchr(shared_dir, ','))
                        return -EINVAL;
                if ((r = strv_extend(&a, "-o")) < 0 || (r = strv_extend_concat(&a, "source=", shared_dir)) < 0 ||
                    (r = strv_extend_unsigned(&a, "--fd=", (unsigned) fd)) < 0 || (r = strv_extend(&a, "-o")) < 0 ||
                    (r = strv_extend(&a, caches[cache])) < 0 || (r = strv_extend(&a, "-o")) < 0 ||
                    (r = strv_extend(&a, "sandbox=namespace")) < 0)
                        return r;
                if (thread_pool_size > 0 &&
                    (r = strv_extend_unsigned(&a, "--thread-pool-size=", thread_pool_size)) < 0)
                        return r;
        }

        *ret = TAKE_PTR(a);
        return 0;
}
