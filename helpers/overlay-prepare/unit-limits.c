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

/* PID 1 writes each property as a drop-in, 50-NAME.conf in
 * /run/systemd/system.control/UNIT.d/, and appends it to the unit's list of
 * drop-ins; systemd 252 then compares that list, in order, with the sorted
 * one it finds on disk, and a mismatch makes `systemctl start` and `status`
 * say the unit changed on disk and ask for a daemon-reload. So the
 * properties go in the order of their file names: 50-CPUQuota.conf,
 * 50-CPUWeight.conf, 50-MemoryMax.conf, 50-TasksMax.conf. */
static int set_unit_limits(sd_bus *bus, const char *unit, const UnitLimits *l) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "SetUnitProperties", &error, NULL, "sba(sv)", unit,
                               /* runtime= */ 1, 4, "CPUQuotaPerSecUSec", "t", l->cpu_quota_usec, "CPUWeight", "t",
                               l->cpu_weight, "MemoryMax", "t", l->memory_max, "TasksMax", "t", l->tasks_max);
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
