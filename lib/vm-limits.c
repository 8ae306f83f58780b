/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "disk-limit.h"
#include "macro.h"
#include "vm-limits.h"

/* What virtiofsd takes with a few thousand inodes looked up: ~3 MiB RSS
 * when idle (docs/performance.md), a few KiB per inode held. */
#define VIRTIOFSD_MEMORY_MIN (64ULL * 1024 * 1024)

static uint64_t add_saturated(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The most an Ephemeral=yes VM's upper layer holds: its tmpfs, whose pages
 * are charged to the cgroup of whoever writes them, virtiofsd.
 * overlay-prepare sizes that tmpfs by the same rule. */
static uint64_t ephemeral_tmpfs_size(const VmDefinition *d) {
        uint64_t size, inodes;

        if (!d->ephemeral)
                return 0;
        ephemeral_tmpfs_limits(d->disk_size, d->memory, &size, &inodes);
        return size;
}

/* Each of the VM's two services is bounded on its own, in machine.slice:
 * a slice of their own would have to be named after the VM in the unit
 * templates (Slice=machine-cowvm-%i.slice), and since '-' in a slice name
 * means nesting, VM "web-1" would then sit inside the slice of VM "web" and
 * count against its limits.
 *
 * vm@: the guest's RAM, which the hypervisor allocates, and
 * MemoryOverhead= for the rest (the hypervisor's own heap, under TCG its
 * translated code; ch-launch's journal queue, 8 MiB). virtiofsd@: its state
 * for every inode the guest holds open, within MemoryOverhead= too, and the
 * tmpfs of an ephemeral VM, and never less than VIRTIOFSD_MEMORY_MIN
 * (MemoryOverhead=0 means no room beyond the guest's RAM for the hypervisor;
 * virtiofsd must still run). CPUQuota= bounds the guest's vCPUs, which run
 * in vm@; virtiofsd works only when the guest asks it to. */
void vm_limits_compute(const VmDefinition *d, VmLimits *ret) {
        uint64_t quota = d->cpu_quota_percent > 0 ? (uint64_t) d->cpu_quota_percent * 10000 : UINT64_MAX;

        *ret = (VmLimits) {
                .vm = {
                        .memory_max = add_saturated(d->memory, d->memory_overhead),
                        .tasks_max = d->tasks_max,
                        .cpu_weight = d->cpu_weight,
                        .cpu_quota_usec = quota,
                },
                .virtiofsd = {
                        .memory_max = add_saturated(d->memory_overhead > VIRTIOFSD_MEMORY_MIN ? d->memory_overhead : VIRTIOFSD_MEMORY_MIN,
                                                    ephemeral_tmpfs_size(d)),
                        .tasks_max = d->tasks_max,
                        .cpu_weight = d->cpu_weight,
                        .cpu_quota_usec = UINT64_MAX,
                },
        };
}
