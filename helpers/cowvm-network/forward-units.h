/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "vm-definition.h"

/* Stops what is left of the VM's forward units from an earlier start
 * (stopping, failed) and waits until they are gone, so that their host ports
 * are free again and their names can be taken. Logs. */
int forward_units_clear(sd_bus *bus, const VmDefinition *d);

/* Creates the VM's forward units, transient, and enqueues their start
 * without waiting for it (see forward-units.c). `target` is the guest's
 * address as the proxy takes it (an IPv6 one in brackets). Logs. */
int forward_units_start(sd_bus *bus, const VmDefinition *d, const char *target);
