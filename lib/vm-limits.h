/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "vm-definition.h"

/*
 * The resource limits of one VM, as cgroup properties of its two services
 * (see vm_limits_compute() for why two and not one slice). overlay-prepare
 * sets them at every start through systemd's API (SetUnitProperties,
 * runtime), so a new or edited definition needs no daemon-reload.
 */
typedef struct UnitLimits {
        uint64_t memory_max; /* bytes; UINT64_MAX: infinity */
        uint64_t tasks_max;
        uint64_t cpu_weight;
        uint64_t cpu_quota_usec; /* per second; UINT64_MAX: no quota */
} UnitLimits;

typedef struct VmLimits {
        UnitLimits vm;        /* vm@NAME: ch-launch and the hypervisor */
        UnitLimits virtiofsd; /* virtiofsd@NAME */
} VmLimits;

void vm_limits_compute(const VmDefinition *d, VmLimits *ret);
