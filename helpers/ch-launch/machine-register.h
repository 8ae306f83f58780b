/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The VM as systemd-machined sees it: registered as class "vm" while the
 * hypervisor runs, so that `machinectl list/status/poweroff/reboot/terminate`
 * work on it. The leader is ch-launch itself, the unit's main process: the
 * signals machined sends to the leader (SIGRTMIN+4 poweroff, SIGINT reboot)
 * reach the supervisor, which turns them into the hypervisor's own requests,
 * never into a kill. Registration is best effort: without D-Bus or machined
 * the VM runs as before, with a warning.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct MachineRegistration {
        sd_bus *bus;
        sd_bus_slot *slot; /* the pending RegisterMachineWithNetwork */
        char *name;
        bool registered;
} MachineRegistration;

/* Only the VM's own unit may become the machine's unit: machined takes the
 * unit from the leader's cgroup, and `machinectl terminate` stops that unit. */
bool machine_unit_is_vm(const char *unit, const char *name);

/* The RegisterMachineWithNetwork call: name, the guest's machine-id, service
 * "cowvm", class "vm", the leader, no root directory, the NIC if any. */
int machine_register_message(sd_bus *bus, const char *name, pid_t leader, int ifindex, sd_bus_message **ret);

/* Starts the registration (asynchronously, on `event`); the NIC's ifindex
 * (0: none). Failures are logged as warnings and returned. */
int machine_register(MachineRegistration *m, sd_event *event, const char *name, int ifindex);
/* Removes the registration, if there is one; waits briefly, never fails. */
void machine_unregister(MachineRegistration *m);
void machine_registration_done(MachineRegistration *m);
