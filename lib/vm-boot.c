/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer-chain.h"
#include "log.h"
#include "path-util.h"
#include "safe-fs.h"
#include "vm-boot.h"

/* Where `path` (inside the base, resolved as the guest would see it) is on
 * the host: Debian's /vmlinuz may be an absolute symlink meant for the
 * guest's /boot, not the host's. -ENOENT when it is not there. */
static int resolve_one(int base_fd, const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        char proc[64], target[PATH_MAX];
        ssize_t n;

        fd = safe_open_at(base_fd, path, O_PATH, 0);
        if (fd < 0)
                return fd;
        (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        n = readlink(proc, target, sizeof target - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        *ret = strdup(target);
        return *ret ? 0 : -ENOMEM;
}

/* The base's own kernel and initrd: /boot/vmlinuz, else Debian's /vmlinuz
 * symlink; likewise initrd.img. A relative Kernel=/Initrd= is inside the
 * base; an absolute one is the host's. */
static int resolve_in_base(int base_fd, const VmDefinition *d, const char *configured, const char *const *candidates,
                           char **ret) {
        if (configured && configured[0] == '/') {
                *ret = strdup(configured);
                return *ret ? 0 : -ENOMEM;
        }
        for (const char *const *c = configured ? (const char *const[]) { configured, NULL } : candidates;
             *c && base_fd >= 0; c++) {
                int r = resolve_one(base_fd, *c, ret);

                if (r == -ENOMEM || r >= 0)
                        return r;
        }
        /* Not there: report the first candidate, so an error names it. */
        if (configured) {
                *ret = path_join(d->base_dir, configured);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = NULL;
        return 0;
}

int vm_boot_resolve(VmDefinition *d) {
        static const char *const kernels[] = { "boot/vmlinuz", "vmlinuz", NULL };
        static const char *const initrds[] = { "boot/initrd.img", "initrd.img", NULL };
        _cleanup_close_ int base_fd = -EBADF;

        assert(d && d->base_dir);

        /* A missing base is reported by whoever needs it; here it only
         * means there is nothing to resolve in. */
        (void) safe_fs_open_root(d->base_dir, &base_fd);

        d->kernel_path = mfree(d->kernel_path);
        d->initrd_path = mfree(d->initrd_path);
        if (resolve_in_base(base_fd, d, d->kernel, kernels, &d->kernel_path) < 0)
                return log_oom();
        if (!d->kernel_path && !(d->kernel_path = path_join(d->base_dir, kernels[0])))
                return log_oom();
        if (resolve_in_base(base_fd, d, d->initrd, initrds, &d->initrd_path) < 0)
                return log_oom();
        /* A base standing on parents: through all its layers. */
        if (layer_chain_resolve_boot_files(d) < 0)
                return log_oom();
        return 0;
}

int vm_boot_kernel_command_line(const VmDefinition *d, const char *console, char **ret) {
        char *s;

        assert(d && ret);

        if (asprintf(&s, "%s%s%sroot=" VIRTIOFS_ROOT_TAG " rootfstype=virtiofs rw%s%s", console ? "console=" : "",
                     strempty(console), console ? " " : "", d->kernel_command_line ? " " : "",
                     strempty(d->kernel_command_line)) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}
