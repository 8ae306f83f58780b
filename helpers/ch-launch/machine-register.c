/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "log.h"
#include "machine-register.h"
#include "vm-identity.h"

#define MACHINED_SERVICE "org.freedesktop.machine1"
#define MACHINED_PATH "/org/freedesktop/machine1"
#define MACHINED_MANAGER "org.freedesktop.machine1.Manager"
/* machined answers in milliseconds; a wedged one must not hold a VM's end up. */
#define MACHINED_TIMEOUT (2 * 1000 * 1000ULL)

bool machine_unit_is_vm(const char *unit, const char *name) {
        size_t n = strlen(name);

        return unit && strncmp(unit, "vm@", 3) == 0 && strncmp(unit + 3, name, n) == 0 &&
               streq(unit + 3 + n, ".service");
}

static int registered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MachineRegistration *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        m->slot = sd_bus_slot_unref(m->slot);
        if (e) {
                log_warning("Cannot register VM %s with systemd-machined, machinectl will not show it: %s", m->name,
                            e->message ?: e->name);
                return 0;
        }
        m->registered = true;
        log_info("Registered with systemd-machined as machine %s (class vm).", m->name);
        return 0;
}

int machine_register_message(sd_bus *bus, const char *name, pid_t leader, int ifindex, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        char id_string[33];
        sd_id128_t id;
        int r;

        vm_machine_id(name, id_string);
        r = sd_id128_from_string(id_string, &id);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &msg, MACHINED_SERVICE, MACHINED_PATH, MACHINED_MANAGER,
                                           "RegisterMachineWithNetwork");
        if (r >= 0)
                r = sd_bus_message_append(msg, "s", name);
        if (r >= 0)
                r = sd_bus_message_append_array(msg, 'y', id.bytes, sizeof id.bytes);
        /* service, class, leader, root directory (none: a VM's root is not a host path) */
        if (r >= 0)
                r = sd_bus_message_append(msg, "ssus", "cowvm", "vm", (uint32_t) leader, "");
        if (r >= 0)
                r = sd_bus_message_append_array(msg, 'i', &ifindex, ifindex > 0 ? sizeof ifindex : 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(msg);
        return 0;
}

int machine_register(MachineRegistration *m, sd_event *event, const char *name, int ifindex) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_free_ char *unit = NULL;
        int r;

        if (m->bus)
                return 0;
        r = sd_pid_get_unit(0, &unit);
        if (r < 0 || !machine_unit_is_vm(unit, name)) {
                log_info("Not running as vm@%s.service (but in %s): not registering with systemd-machined.", name,
                         unit ?: "no unit");
                return 0;
        }
        m->name = strdup(name);
        if (!m->name)
                return log_oom();

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_warning_errno(r,
                                         "Cannot connect to the system bus, not registering VM %s with "
                                         "systemd-machined: %m",
                                         name);
        /* Never flush at the event loop's end: a wedged bus must not keep
         * ch-launch from exiting. Whatever matters was a synchronous call. */
        r = sd_bus_set_close_on_exit(m->bus, false);
        if (r >= 0)
                r = sd_bus_attach_event(m->bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_set_method_call_timeout(m->bus, MACHINED_TIMEOUT);
        if (r >= 0)
                r = machine_register_message(m->bus, name, getpid(), ifindex, &msg);
        if (r >= 0)
                r = sd_bus_call_async(m->bus, &m->slot, msg, registered, m, MACHINED_TIMEOUT);
        if (r < 0)
                return log_warning_errno(r, "Cannot register VM %s with systemd-machined: %m", name);
        return 0;
}

void machine_unregister(MachineRegistration *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        /* Still pending: machined drops the machine when the unit ends. */
        m->slot = sd_bus_slot_unref(m->slot);
        if (!m->registered)
                return;
        m->registered = false;
        r = sd_bus_call_method(m->bus, MACHINED_SERVICE, MACHINED_PATH, MACHINED_MANAGER, "UnregisterMachine", &error,
                               NULL, "s", m->name);
        if (r < 0)
                log_warning_errno(r,
                                  "Cannot unregister VM %s from systemd-machined (it drops it when the unit "
                                  "ends): %s",
                                  m->name, error.message ?: "");
        else
                log_debug("Unregistered from systemd-machined.");
}

void machine_registration_done(MachineRegistration *m) {
        m->slot = sd_bus_slot_unref(m->slot);
        m->bus = sd_bus_close_unref(m->bus);
        m->name = mfree(m->name);
}
