/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The meaning of Cloud Hypervisor's event monitor objects and vm.info
 * bodies, as captured from a real run. */

#include <string.h>

#include "ch-api.h"
#include "json-lite.h"
#include "macro.h"

ChEvent ch_event_parse(const char *json, size_t len) {
        JsonSpan obj = { json, len };
        char source[32], event[32];

        if (json_get_string(obj, "source", source, sizeof source) < 0 ||
            json_get_string(obj, "event", event, sizeof event) < 0)
                return _CH_EVENT_INVALID;
        if (streq(source, "vm") && streq(event, "booted"))
                return CH_EVENT_BOOTED;
        if (streq(source, "vm") && streq(event, "rebooting"))
                return CH_EVENT_REBOOTING;
        if ((streq(source, "vm") || streq(source, "vmm")) && streq(event, "shutdown"))
                return CH_EVENT_SHUTDOWN;
        if (streq(source, "guest") && streq(event, "panic"))
                return CH_EVENT_PANIC;
        return CH_EVENT_OTHER;
}

int ch_vm_info_state(const char *json, size_t len, char *buf, size_t size) {
        return json_get_string((JsonSpan) { json, len }, "state", buf, size);
}
