/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What is mounted where, from /proc/self/mountinfo through libmount. */

#include <stdbool.h>

typedef struct MountInfo {
        char *fstype;
        char *source;
        char *options; /* the superblock (fs-specific) options, as the kernel shows them */
} MountInfo;

void mount_info_done(MountInfo *m);

/* Looks for a mount whose mount point is exactly `path` (the top-most one if
 * several are stacked). Returns 1 and fills `ret` (may be NULL) if there is
 * one, 0 if `path` is no mount point, < 0 on error. */
int mount_find(const char *path, MountInfo *ret);

/* The value of `name`= in a mount option string ("upperdir" in
 * "lowerdir=/a,upperdir=/b"), unescaped of overlayfs' '\' escapes.
 * Returns 1 and a copy in ret, 0 if absent. */
int mount_option_get(const char *options, const char *name, char **ret);
