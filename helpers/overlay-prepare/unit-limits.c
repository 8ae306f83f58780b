/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "macro.h"
#include "manager-bus.h"
#include "unit-limits.h"
#include "vm-limits.h"

static int set_unit_limits(sd_bus *bus, const char *unit, const UnitLimits *l) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "SetUnitProperties", &error, NULL, "sba(sv)", unit,
                               /* runtime= */ 1, 4, "MemoryMax", "t", l->memory_max, "TasksMax", "t", l->tasks_max,
                               "CPUWeight", "t", l->cpu_weight, "CPUQuotaPerSecUSec", "t", l->cpu_quota_usec);
        if (r < 0)
                return log_error_errno(r, "Failed to set the resource limits of %s: %s", unit,
                                       error.message ?: strerror(-r));
        return 0;
}

int unit_limits_apply(const VmDefinition *d) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char vm[256], virtiofsd[256];
        VmLimits limits;
        int r;

        if (sd_booted() <= 0) {
                log_debug("Not running under systemd: no units to set the limits of VM '%s' on.", d->name);
                return 0;
        }
        r = manager_bus_open(&bus);
        if (r < 0)
                return r;

        vm_limits_compute(d, &limits);
        (void) snprintf(vm, sizeof vm, "vm@%s.service", d->name);
        (void) snprintf(virtiofsd, sizeof virtiofsd, "virtiofsd@%s.service", d->name);
        r = set_unit_limits(bus, vm, &limits.vm);
        if (r < 0)
                return r;
        return set_unit_limits(bus, virtiofsd, &limits.virtiofsd);
}
