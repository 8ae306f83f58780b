/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What ch-launch sets up on the host before the hypervisor starts: which
 * hypervisor, the tap device, the boot files it opens for the hypervisor,
 * /dev/kvm's group, the stop timeout. Each says what went wrong and how to
 * fix it. */

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include "backend.h"
#include "time-util.h"
#include "vm-definition.h"

/* Hypervisor=, or Cloud Hypervisor where installed, else QEMU. */
int hypervisor_pick(const VmDefinition *def, const Backend **ret_backend, char **ret_binary);

/* [Network] Bridge=: the VM's tap device on that bridge. Without Bridge=
 * the VM has no NIC: *ret_fd is -EBADF. */
int tap_setup(const VmDefinition *d, int *ret_fd, char ret_ifname[static IFNAMSIZ], char ret_mac[static 18]);

/* Opens the kernel or initrd for the hypervisor; returns the fd. */
int boot_file_open(const char *what, const char *path);

/* /dev/kvm's group, when the hypervisor needs it ((gid_t) -1: not). */
int kvm_group(bool kvm, gid_t *ret_gid);

/* How long a graceful stop may take before the hard stop. */
usec_t stop_timeout_pick(const VmDefinition *def);
