/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Cloud Hypervisor's command line for a LaunchConfig, and the meaning of its
 * event monitor objects and vm.info bodies. Pure, so the unit tests check
 * them against the captured CLI and API output. */

#include <inttypes.h>
#include <string.h>

#include "json-lite.h"
#include "launch.h"
#include "strv.h"

int ch_build_argv(const LaunchConfig *c, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        int r;

        if (!c->binary || !c->kernel || !c->cmdline || c->cpus == 0 || c->memory == 0 || !c->uuid ||
            !c->virtiofsd_socket || !c->api_socket || !c->serial_socket || c->event_monitor_fd < 0)
                return -EINVAL;
        /* CH splits option values at ','; none of our paths may contain one. */
        if (strchr(c->virtiofsd_socket, ',') || strchr(c->api_socket, ',') || strchr(c->serial_socket, ','))
                return -EINVAL;
        if (c->net_fd >= 0 && (!c->mac || strchr(c->mac, ',')))
                return -EINVAL;

        if ((r = strv_extend(&a, c->binary)) < 0 || (r = strv_extend(&a, "--kernel")) < 0 ||
            (r = strv_extend(&a, c->kernel)) < 0)
                return r;
        if (c->initrd && ((r = strv_extend(&a, "--initramfs")) < 0 || (r = strv_extend(&a, c->initrd)) < 0))
                return r;
        if ((r = strv_extend(&a, "--cmdline")) < 0 || (r = strv_extend(&a, c->cmdline)) < 0 ||
            (r = strv_extend(&a, "--cpus")) < 0 || (r = strv_extendf(&a, "boot=%u", c->cpus)) < 0 ||
            (r = strv_extend(&a, "--memory")) < 0)
                return r;
        /* CH's sizes take K/M/G suffixes; a bare number is bytes. */
        if (c->memory % (1ULL << 20) == 0)
                r = strv_extendf(&a, "size=%" PRIu64 "M,shared=on", c->memory >> 20);
        else
                r = strv_extendf(&a, "size=%" PRIu64 ",shared=on", c->memory);
        if (r < 0)
                return r;
        if ((r = strv_extend(&a, "--fs")) < 0 ||
            (r = strv_extendf(&a, "tag=" VIRTIOFS_ROOT_TAG ",socket=%s", c->virtiofsd_socket)) < 0)
                return r;
        /* The tap ch-launch created, as an fd (a list: one fd per queue pair;
         * we use one pair). */
        if (c->net_fd >= 0 &&
            ((r = strv_extend(&a, "--net")) < 0 || (r = strv_extendf(&a, "fd=[%d],mac=%s", c->net_fd, c->mac)) < 0))
                return r;
        if ((r = strv_extend(&a, "--serial")) < 0 || (r = strv_extendf(&a, "socket=%s", c->serial_socket)) < 0 ||
            (r = strv_extend(&a, "--console")) < 0 || (r = strv_extend(&a, "tty")) < 0 ||
            (r = strv_extend(&a, "--api-socket")) < 0 || (r = strv_extendf(&a, "path=%s", c->api_socket)) < 0 ||
            (r = strv_extend(&a, "--event-monitor")) < 0 || (r = strv_extendf(&a, "fd=%d", c->event_monitor_fd)) < 0 ||
            (r = strv_extend(&a, "--platform")) < 0 || (r = strv_extendf(&a, "system_uuid=%s", c->uuid)) < 0)
                return r;
        /* CH's default, said explicitly: its filter is part of the confinement. */
        if ((r = strv_extend(&a, "--seccomp")) < 0 || (r = strv_extend(&a, "true")) < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}

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
