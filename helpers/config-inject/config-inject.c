/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * config-inject NAME: writes the guest configuration the definition asks
 * for (host name, machine-id, network, password, SSH keys, fstab, the
 * readiness unit) into the VM's root: the mounted overlay, of which only the upper layer changes. Runs as root on a
 * tree the guest controls; see inject.h and guest-tree.h for how.
 * ch-launch does the same (inject_vm()) before it starts the hypervisor, in
 * vm@NAME.service; this command runs it alone, on a VM whose root is mounted.
 */

#include <stdlib.h>

#include "inject.h"
#include "log.h"
#include "main-func.h"
#include "macro.h"
#include "vm-definition.h"

static int run(int argc, char *argv[]) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        int r;

        if (argc != 2 || argv[1][0] == '-')
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Usage: config-inject NAME");

        r = vm_definition_load(argv[1], &d);
        if (r < 0)
                return r;
        return inject_vm(d);
}

DEFINE_MAIN_FUNCTION("config-inject", LOG_TARGET_CONSOLE, run);
