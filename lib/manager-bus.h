/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* A connection to the service manager, PID 1: its own socket as root (no
 * bus daemon needed, no bus policy in the way), else the system bus. Logs
 * a failure. */
int manager_bus_open(sd_bus **ret);
