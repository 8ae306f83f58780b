/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <unistd.h>

#include "log.h"
#include "manager-bus.h"

/* As root, PID 1's own socket, as systemctl does: it needs no bus daemon
 * (VMs with Autostart=yes start at boot, and a restart of dbus must not fail
 * a VM's start), and no bus policy stands between root and PID 1. Anyone
 * else, or a manager without that socket: the system bus. */
int manager_bus_open(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        if (geteuid() == 0) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
                if (r >= 0)
                        r = sd_bus_start(bus);
                if (r >= 0) {
                        *ret = bus;
                        return 0;
                }
                bus = sd_bus_close_unref(bus);
        }
        r = sd_bus_open_system(ret);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the service manager: %m");
        return 0;
}
