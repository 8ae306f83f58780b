/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What Cloud Hypervisor says: its event monitor's objects and its API's
 * bodies. Pure, unit tested against captured output. */

#include <errno.h>
#include <stddef.h>

typedef enum ChEvent {
        CH_EVENT_OTHER,
        CH_EVENT_BOOTED,    /* vm/booted: vCPUs started */
        CH_EVENT_REBOOTING, /* vm/rebooting */
        CH_EVENT_SHUTDOWN,  /* vm/shutdown or vmm/shutdown */
        CH_EVENT_PANIC,     /* guest/panic */
        _CH_EVENT_INVALID = -EINVAL,
} ChEvent;

/* What one event monitor object means to us. */
ChEvent ch_event_parse(const char *json, size_t len);
/* The "state" of a GET vm.info body: "Running", "Shutdown", ... */
int ch_vm_info_state(const char *json, size_t len, char *buf, size_t size);
