/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The units of a VM's Forward= lines (docs/networking.md), made at each start
 * as transient units through PID 1's D-Bus API, the way `systemd-run
 * --socket-property=` makes a socket and its service:
 *
 *   cowvm-forward-NAME-N.socket    Forward= number N (from 0): the host port
 *   cowvm-forward-NAME-N.service   systemd-socket-proxyd to the guest
 *
 * Both are tied to vm@NAME (BindsTo=, After=): they listen once the guest is
 * up and go away with it, however it ends. Being transient, they exist only
 * while the VM runs, need no daemon-reload when a definition is added or
 * changed, and survive one. No packet filter rules: the proxy is an ordinary
 * socket-activated service.
 *
 * cowvm-network runs as an ExecStartPre= of vm@NAME, while vm@NAME's start
 * job runs; the socket's start job waits for that one (After=). So the job
 * is only enqueued here, never waited for: waiting would wait for ourselves.
 */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "forward-units.h"
#include "log.h"
#include "manager-bus.h"
#include "strv.h"
#include "vm-network.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

/* How long a leftover unit of an earlier start may take to go away: a
 * socket closes at once, the proxy exits on SIGTERM. */
#define LEFTOVER_WAIT_MS 20000
#define LEFTOVER_POLL_MS 50

/* The proxy's own limits, in machine.slice beside the VMs. What a guest can
 * make it spend is buffers: per connection two pipes of up to 256 KiB
 * (systemd-socket-proxyd's splice buffers), filled when the guest, or a
 * client it works with, stops reading; at most 256 connections (its
 * --connections-max default), 128 MiB. MemoryMax= leaves room for that and
 * the proxy itself; past it the kernel first squeezes the sockets' buffers
 * and then the OOM killer ends this proxy alone (its forward's connections
 * with it, the next one starts it again), never the host's other services.
 * Tasks: the main thread and sd-resolve's few workers. */
#define PROXY_MEMORY_MAX (192ULL * 1024 * 1024)
#define PROXY_TASKS_MAX 16ULL

static int unit_names(const VmDefinition *d, unsigned i, char **ret_socket, char **ret_service) {
        if (asprintf(ret_socket, "cowvm-forward-%s-%u.socket", d->name, i) < 0)
                return log_oom();
        if (asprintf(ret_service, "cowvm-forward-%s-%u.service", d->name, i) < 0) {
                *ret_socket = mfree(*ret_socket);
                return log_oom();
        }
        return 0;
}

static void sleep_ms(unsigned ms) {
        (void) nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L }, NULL);
}

/* A manager method that takes unit names and whose answer does not matter
 * to us (StopUnit, ResetFailedUnit): the unit may be gone already. */
static void call_ignoring(sd_bus *bus, const char *method, const char *types, const char *unit, const char *mode) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (mode)
                (void) sd_bus_call_method(bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, method, &error, NULL,
                                          types, unit, mode);
        else
                (void) sd_bus_call_method(bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, method, &error, NULL,
                                          types, unit);
}

/* 1 if the manager has the unit loaded, 0 if not. */
static int unit_loaded(sd_bus *bus, const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit", &error, &reply, "s",
                               unit);
        if (r >= 0)
                return 1;
        if (sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit"))
                return 0;
        return log_error_errno(r, "Failed to look up %s: %s", unit, error.message ?: strerror(-r));
}

/* Stops SOCKET and SERVICE if loaded, and waits until the manager has
 * unloaded both: a transient unit goes once inactive; a failed one once its
 * failure is reset. */
static int clear_units(sd_bus *bus, const char *socket, const char *service) {
        bool stopped = false;
        int r;

        for (unsigned waited = 0;; waited += LEFTOVER_POLL_MS) {
                int loaded = 0;

                r = unit_loaded(bus, socket);
                if (r < 0)
                        return r;
                loaded += r;
                r = unit_loaded(bus, service);
                if (r < 0)
                        return r;
                loaded += r;
                if (loaded == 0)
                        return 0;
                if (!stopped) {
                        log_info("Stopping %s and %s, left from an earlier start.", socket, service);
                        call_ignoring(bus, "StopUnit", "ss", socket, "replace");
                        call_ignoring(bus, "StopUnit", "ss", service, "replace");
                        stopped = true;
                }
                if (waited >= LEFTOVER_WAIT_MS)
                        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                               "%s or %s from an earlier start of the VM does not go away; is there "
                                               "a unit file of that name ('systemctl cat %s %s')?",
                                               socket, service, socket, service);
                call_ignoring(bus, "ResetFailedUnit", "s", socket, NULL);
                call_ignoring(bus, "ResetFailedUnit", "s", service, NULL);
                sleep_ms(LEFTOVER_POLL_MS);
        }
}

int forward_units_clear(sd_bus *bus, const VmDefinition *d) {
        int r;

        for (unsigned i = 0; d->forwards && d->forwards[i]; i++) {
                _cleanup_free_ char *socket = NULL, *service = NULL;

                r = unit_names(d, i, &socket, &service);
                if (r < 0)
                        return r;
                r = clear_units(bus, socket, service);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int append_string(sd_bus_message *m, const char *name, const char *value) {
        return sd_bus_message_append(m, "(sv)", name, "s", value);
}

static int append_bool(sd_bus_message *m, const char *name, int value) {
        return sd_bus_message_append(m, "(sv)", name, "b", value);
}

/* One unit name (or other word) as a list: dependencies and such. */
static int append_one(sd_bus_message *m, const char *name, const char *value) {
        return sd_bus_message_append(m, "(sv)", name, "as", 1, value);
}

/* What both units say of themselves and of vm@NAME. */
static int append_common(sd_bus_message *m, const VmDefinition *d, const char *description, const char *vm_unit) {
        int r;

        r = append_string(m, "Description", description);
        if (r >= 0)
                r = append_one(m, "Documentation", "man:cowvm.vm(5)");
        if (r >= 0)
                r = append_string(m, "SourcePath", d->path);
        if (r >= 0)
                r = append_one(m, "BindsTo", vm_unit);
        if (r >= 0)
                r = append_one(m, "After", vm_unit);
        /* A failed transient unit stays loaded until reset-failed and would
         * hold its name against the VM's next start; its log is in the
         * journal anyway. */
        if (r >= 0)
                r = append_string(m, "CollectMode", "inactive-or-failed");
        return r;
}

static int append_socket_properties(sd_bus_message *m, const VmDefinition *d, const Forward *f, const char *vm_unit) {
        _cleanup_free_ char *description = NULL;
        char listen[INET6_ADDRSTRLEN + 8];
        int r;

        forward_listen_format(f, listen);
        if (asprintf(&description, "Forward %s to port %u of VM %s", listen, f->guest_port, d->name) < 0)
                return -ENOMEM;
        r = append_common(m, d, description, vm_unit);
        /* Default dependencies would order the socket before sockets.target,
         * which vm@ (after basic.target) comes after: a cycle at boot. */
        if (r >= 0)
                r = append_bool(m, "DefaultDependencies", 0);
        if (r >= 0)
                r = append_one(m, "Conflicts", "shutdown.target");
        if (r >= 0)
                r = append_one(m, "Before", "shutdown.target");
        if (r >= 0)
                r = append_one(m, "PartOf", vm_unit);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "Listen", "a(ss)", 1, "Stream", listen);
        return r;
}

/* The proxy's sandbox settings that are booleans, all on. */
static const char *const yes_settings[] = {
        "ProtectKernelTunables", "ProtectKernelModules",
        "ProtectKernelLogs",     "ProtectControlGroups",
        "ProtectClock",          "ProtectHostname",
        "LockPersonality",       "MemoryDenyWriteExecute",
        "RestrictRealtime",      NULL,
};

static int append_service_properties(sd_bus_message *m, const VmDefinition *d, const Forward *f, const char *vm_unit,
                                     const char *socket, const char *target) {
        _cleanup_free_ char *description = NULL, *to = NULL;
        int r;

        if (asprintf(&description, "Proxy to port %u of VM %s", f->guest_port, d->name) < 0 ||
            asprintf(&to, "%s:%u", target, f->guest_port) < 0)
                return -ENOMEM;
        r = append_common(m, d, description, vm_unit);
        if (r >= 0)
                r = append_one(m, "Requires", socket);
        if (r >= 0)
                r = append_one(m, "After", socket);
        /* Not a slice of the VM's: there is none per VM (a VM name's '-'
         * would nest slices). Limits of its own instead, see above. */
        if (r >= 0)
                r = append_string(m, "Slice", "machine.slice");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", (uint64_t) PROXY_MEMORY_MAX);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "TasksMax", "t", (uint64_t) PROXY_TASKS_MAX);
        /* The guest's address goes in directly: it is known now, the lease
         * picked. */
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "ExecStart", "a(sasb)", 1, SYSTEMD_SOCKET_PROXYD, 2,
                                          SYSTEMD_SOCKET_PROXYD, to, 0);
        /* The proxy copies bytes between two sockets: it needs nothing of the
         * host but the network. */
        if (r >= 0)
                r = append_bool(m, "DynamicUser", 1);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "CapabilityBoundingSet", "t", (uint64_t) 0);
        if (r >= 0)
                r = append_bool(m, "PrivateDevices", 1);
        if (r >= 0)
                r = append_string(m, "ProtectSystem", "strict");
        if (r >= 0)
                r = append_string(m, "ProtectHome", "yes");
        for (const char *const *p = yes_settings; *p && r >= 0; p++)
                r = append_bool(m, *p, 1);
        if (r >= 0)
                r = append_string(m, "ProtectProc", "invisible");
        if (r >= 0)
                r = append_string(m, "ProcSubset", "pid");
        /* (allow-list, families) */
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "RestrictAddressFamilies", "(bas)", 1, 2, "AF_INET", "AF_INET6");
        /* The namespaces allowed: cgroup namespaces alone, which need
         * CAP_SYS_ADMIN, which the proxy has not (nor a user namespace to
         * get it in): as good as none. Not none: systemd 252 writes that
         * into the transient unit file as an empty "RestrictNamespaces=",
         * which a daemon-reload reads back as no restriction at all. */
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "RestrictNamespaces", "t", (uint64_t) CLONE_NEWCGROUP);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "SystemCallFilter", "(bas)", 1, 1, "@system-service");
        if (r >= 0)
                r = append_one(m, "SystemCallArchitectures", "native");
        return r;
}

/* StartTransientUnit(socket, "fail", its properties, [(service, its properties)]). */
static int transient_message(sd_bus *bus, const VmDefinition *d, const Forward *f, const char *socket,
                             const char *service, const char *target, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *vm_unit = NULL;
        int r;

        if (asprintf(&vm_unit, "vm@%s.service", d->name) < 0)
                return -ENOMEM;
        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                           "StartTransientUnit");
        /* "fail": a start of the VM that a stop job is replacing needs no
         * forward. */
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", socket, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = append_socket_properties(m, d, f, vm_unit);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sa(sv))");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sa(sv)");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", service);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = append_service_properties(m, d, f, vm_unit, socket, target);
        for (int i = 0; i < 3 && r >= 0; i++)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int start_forward(sd_bus *bus, const VmDefinition *d, unsigned i, const char *target) {
        _cleanup_free_ char *socket = NULL, *service = NULL;
        Forward f;
        int r;

        if (forward_parse(d->forwards[i], &f) < 0) /* the parser refused it already */
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid Forward=%s in %s.", d->forwards[i], d->path);
        r = unit_names(d, i, &socket, &service);
        if (r < 0)
                return r;

        /* A unit of that name may have appeared since forward_units_clear()
         * (an earlier start's, still going): clear it once more and retry. */
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                r = transient_message(bus, d, &f, socket, service, target, &m);
                if (r < 0)
                        return log_error_errno(r, "Failed to build the units of Forward=%s: %m", d->forwards[i]);
                r = sd_bus_call(bus, m, 0, &error, &reply);
                if (r >= 0)
                        return 0;
                if (!sd_bus_error_has_name(&error, "org.freedesktop.systemd1.UnitExists") || attempt >= 2)
                        return log_error_errno(r, "Failed to create %s and %s for Forward=%s: %s", socket, service,
                                               d->forwards[i], error.message ?: strerror(-r));
                r = clear_units(bus, socket, service);
                if (r < 0)
                        return r;
        }
}

int forward_units_start(sd_bus *bus, const VmDefinition *d, const char *target) {
        int r;

        for (unsigned i = 0; d->forwards && d->forwards[i]; i++) {
                r = start_forward(bus, d, i, target);
                if (r < 0)
                        return r;
        }
        return 0;
}
