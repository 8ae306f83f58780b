/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * config-inject NAME: ExecStartPre= of vm@NAME.service. Writes the guest
 * configuration the definition asks for (host name, machine-id, network,
 * password, SSH keys, fstab, the readiness unit) into the VM's root: the
 * mounted overlay, of which only the upper layer changes. Runs as root on a
 * tree the guest controls; see inject.h and guest-tree.h for how.
 */

#include <stdlib.h>

#include "inject.h"
#include "log.h"
#include "main-func.h"
#include "macro.h"
#include "safe-fs.h"
#include "vm-definition.h"

static int run(int argc, char *argv[]) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        _cleanup_close_ int root_fd = -EBADF, base_fd = -EBADF;
        int r;

        if (argc != 2 || argv[1][0] == '-') {
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Usage: config-inject NAME (run by vm@NAME.service)");
        }

        r = vm_definition_load(argv[1], &d);
        if (r < 0)
                return r;

        r = safe_fs_open_root(d->layout.root_dir, &root_fd);
        if (r == -ENOSYS)
                return log_error_errno(r, "Cannot configure VM '%s': %s.", d->name, safe_fs_error_explain(r));
        if (r < 0)
                return log_error_errno(r, "Failed to open the root of VM '%s' at '%s': %m", d->name,
                                       d->layout.root_dir);

        r = inject_verify_overlay(root_fd, d);
        if (r < 0)
                return r;

        /* Only to recognize host keys that came with the base; optional. */
        r = safe_fs_open_root(d->base_dir, &base_fd);
        if (r < 0)
                log_warning_errno(r, "Failed to open the base '%s', SSH host keys are left alone: %m", d->base_dir);

        InjectContext c = {
                .root = { .fd = root_fd, .path = d->layout.root_dir, .label = INJECT_ROOT_LABEL },
                .base_fd = base_fd,
                .def = d,
                .owner_uid = 0,
                .owner_gid = 0,
        };
        r = inject_all(&c);
        if (r < 0)
                return log_error_errno(r, "Failed to configure VM '%s' (see above); not starting it.", d->name);

        log_info("Configured VM '%s' in %s.", d->name, d->layout.root_dir);
        return 0;
}

DEFINE_MAIN_FUNCTION("config-inject", LOG_TARGET_CONSOLE, run);
