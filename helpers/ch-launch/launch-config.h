/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The hypervisors' command lines: pure functions of a LaunchConfig, unit
 * tested against the documented syntax. A field the caller must set and did
 * not is a programming error (assert()); a value the option syntax cannot
 * carry (a ',' in a path) is bad input: logged, naming it, and -EINVAL.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "macro.h"

/* Everything an argv depends on. Plain data; paths and fd numbers are as the
 * child sees them (-1: channel not used). */
typedef struct LaunchConfig {
        const char *name;
        const char *binary;
        const char *kernel;
        const char *initrd; /* NULL: none */
        const char *cmdline;
        unsigned cpus;
        uint64_t memory; /* bytes */
        const char *virtiofsd_socket;
        const char *uuid;
        bool kvm;
        /* The NIC: a tap fd (-1: no NIC) and the guest's MAC ("02:..."). */
        int net_fd;
        const char *mac;

        /* Cloud Hypervisor */
        const char *api_socket;
        const char *serial_socket;
        int event_monitor_fd;

        /* QEMU */
        int qmp_fd;
        int serial_fd;
        int notify_fd;
        int vhost_user_fd;
} LaunchConfig;

#define LAUNCH_CONFIG_NULL                                                                                            \
        { .net_fd = -1, .event_monitor_fd = -1, .qmp_fd = -1, .serial_fd = -1, .notify_fd = -1, .vhost_user_fd = -1 }

int qemu_build_argv(const LaunchConfig *c, char ***ret);
int ch_build_argv(const LaunchConfig *c, char ***ret);

/* Both hypervisors split an option's value at ','; a value holding one
 * would become options of its own. */
static inline int launch_config_check_value(const char *hypervisor, const char *what, const char *value) {
        if (value && strchr(value, ','))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Cannot pass the %s %s to %s: it contains a ',', which %s's command line "
                                       "syntax splits options at.",
                                       what, value, hypervisor, hypervisor);
        return 0;
}
