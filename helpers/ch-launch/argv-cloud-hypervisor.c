/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Cloud Hypervisor's command line for a LaunchConfig. Pure, so the unit
 * tests check it against the captured CLI. */

#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "launch-config.h"
#include "strv.h"
#include "vm-definition.h"

static void ch_config_assert(const LaunchConfig *c) {
        assert(c->binary && c->kernel && c->cmdline && c->uuid);
        assert(c->cpus > 0 && c->memory > 0);
        assert(c->virtiofsd_socket && c->api_socket && c->serial_socket && c->event_monitor_fd >= 0);
        assert(c->net_fd < 0 || c->mac);
}

/* CH splits option values at ','; none of our paths may contain one. */
static int ch_config_check(const LaunchConfig *c) {
        int r;

        if ((r = launch_config_check_value("Cloud Hypervisor", "virtiofsd socket", c->virtiofsd_socket)) < 0 ||
            (r = launch_config_check_value("Cloud Hypervisor", "API socket", c->api_socket)) < 0 ||
            (r = launch_config_check_value("Cloud Hypervisor", "serial socket", c->serial_socket)) < 0)
                return r;
        if (c->net_fd >= 0)
                return launch_config_check_value("Cloud Hypervisor", "MAC address", c->mac);
        return 0;
}

static int ch_argv_boot(const LaunchConfig *c, char ***a) {
        int r;

        if ((r = strv_extend(a, c->binary)) < 0 || (r = strv_extend(a, "--kernel")) < 0 ||
            (r = strv_extend(a, c->kernel)) < 0)
                return r;
        if (c->initrd && ((r = strv_extend(a, "--initramfs")) < 0 || (r = strv_extend(a, c->initrd)) < 0))
                return r;
        if ((r = strv_extend(a, "--cmdline")) < 0 || (r = strv_extend(a, c->cmdline)) < 0 ||
            (r = strv_extend(a, "--cpus")) < 0 || (r = strv_extendf(a, "boot=%u", c->cpus)) < 0 ||
            (r = strv_extend(a, "--memory")) < 0)
                return r;
        /* CH's sizes take K/M/G suffixes; a bare number is bytes. */
        if (c->memory % (1ULL << 20) == 0)
                return strv_extendf(a, "size=%" PRIu64 "M,shared=on", c->memory >> 20);
        return strv_extendf(a, "size=%" PRIu64 ",shared=on", c->memory);
}

int ch_build_argv(const LaunchConfig *c, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        int r;

        assert(c);
        assert(ret);
        ch_config_assert(c);
        r = ch_config_check(c);
        if (r < 0)
                return r;

        if ((r = ch_argv_boot(c, &a)) < 0)
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
