/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inject.h"
#include "log.h"
#include "macro.h"
#include "mount-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_table *, mnt_unref_table);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_iter *, mnt_free_iter);

static bool same_path(const char *a, const char *b) {
        _cleanup_free_ char *ra = NULL, *rb = NULL;

        if (streq(a, b))
                return true;
        /* Both are host paths cowvm chose (or the test's), never the guest's. */
        ra = realpath(a, NULL);
        rb = realpath(b, NULL);
        return ra && rb && streq(ra, rb);
}

/* The mount is identified by the mount id of the very fd we will write
 * through, not by the path: a path can be remounted or replaced between
 * the check and the writes, the fd cannot. */
int inject_verify_overlay(int root_fd, const VmDefinition *d) {
        _cleanup_(mnt_unref_tablep) struct libmnt_table *t = NULL;
        _cleanup_(mnt_free_iterp) struct libmnt_iter *it = NULL;
        _cleanup_free_ char *upper = NULL;
        struct libmnt_fs *fs = NULL, *i;
        struct statx stx;
        const char *why;
        int r;

        if (statx(root_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
                return log_error_errno(errno, "Failed to stat '%s': %m", d->layout.root_dir);
        if (!(stx.stx_mask & STATX_MNT_ID))
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),
                                       "The kernel does not report mount ids (Linux >= 5.8 needed) for '%s'.",
                                       d->layout.root_dir);

        t = mnt_new_table();
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!t || !it)
                return log_oom();
        r = mnt_table_parse_mtab(t, "/proc/self/mountinfo");
        if (r < 0)
                return log_error_errno(r, "Failed to parse /proc/self/mountinfo: %m");
        while (mnt_table_next_fs(t, it, &i) == 0)
                if ((uint64_t) mnt_fs_get_id(i) == stx.stx_mnt_id) {
                        fs = i;
                        break;
                }

        if (!fs)
                why = "its mount is not in /proc/self/mountinfo";
        else if (!mnt_fs_get_target(fs) || !same_path(mnt_fs_get_target(fs), d->layout.root_dir))
                why = "it is not a mount point";
        else if (!streq(strempty(mnt_fs_get_fstype(fs)), "overlay"))
                why = "it is not an overlay filesystem";
        else if (mount_option_get(strempty(mnt_fs_get_fs_options(fs)), "upperdir", &upper) <= 0)
                why = "the overlay has no upper layer";
        else if (!same_path(upper, d->layout.upper_dir))
                why = "the overlay's upper layer is not the VM's";
        else
                return 0;

        return log_error_errno(
                SYNTHETIC_ERRNO(EMEDIUMTYPE),
                "'%s' is not mounted as the VM's overlay (upper layer '%s'): %s; refusing to write into it.",
                d->layout.root_dir, d->layout.upper_dir, why);
}
