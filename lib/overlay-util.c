/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer-chain.h"
#include "overlay-util.h"

char *overlay_escape_path(const char *path) {
        char *s = malloc(strlen(path) * 2 + 1), *t = s;

        if (!s)
                return NULL;
        for (const char *p = path; *p; p++) {
                if (*p == '\\' || *p == ',' || *p == ':')
                        *t++ = '\\';
                *t++ = *p;
        }
        *t = '\0';
        return s;
}

int overlay_mount_options(const VmDefinition *d, char **ret) {
        _cleanup_free_ char *lower = NULL, *upper = overlay_escape_path(d->layout.upper_dir),
                            *work = overlay_escape_path(d->layout.work_dir);

        /* A chain that cannot be read (a broken parent record) mounts the
         * base alone; overlay-prepare refuses to start such a VM, saying why. */
        if (layer_chain_lowerdir(d, &lower) < 0)
                lower = overlay_escape_path(d->base_dir);
        if (!lower || !upper || !work)
                return -ENOMEM;
        if (asprintf(ret, "lowerdir=%s,upperdir=%s,workdir=%s,%s", lower, upper, work,
                     d->ephemeral ? OVERLAY_MOUNT_FLAGS_EPHEMERAL : OVERLAY_MOUNT_FLAGS) < 0)
                return -ENOMEM;
        return 0;
}
