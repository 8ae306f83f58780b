/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a VM boots: its kernel and initrd, and the kernel command line. Only
 * the programs that boot a VM or check that it can boot need this (ch-launch,
 * overlay-prepare); loading a definition does not look into the base.
 */

#include "vm-definition.h"

/* Sets d->kernel_path and d->initrd_path from Kernel=/Initrd= or the base's
 * own boot/vmlinuz and boot/initrd.img (else Debian's /vmlinuz,
 * /initrd.img). initrd_path stays NULL when the base has none. A missing
 * base or kernel is not an error here: the path then names where it was
 * looked for, for whoever opens it to report. -ENOMEM (logged), or 0. */
int vm_boot_resolve(VmDefinition *d);

/* The kernel command line the guest boots with: cowvm's part
 * (root=myfs rootfstype=virtiofs rw console=...) plus KernelCommandLine=. */
int vm_boot_kernel_command_line(const VmDefinition *d, const char *console, char **ret);
