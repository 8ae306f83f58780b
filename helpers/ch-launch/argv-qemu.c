/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* QEMU's command line for a LaunchConfig; see backend-qemu.c for why each
 * channel is what it is. Pure, so the unit tests check it. */

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "launch-config.h"
#include "vm-definition.h"
#include "strv.h"

static void qemu_config_assert(const LaunchConfig *c) {
        assert(c->binary && c->name && c->kernel && c->cmdline && c->uuid);
        assert(c->cpus > 0 && c->memory > 0);
        assert(c->qmp_fd >= 0 && c->serial_fd >= 0 && c->notify_fd >= 0 && c->vhost_user_fd >= 0);
        assert(c->net_fd < 0 || c->mac);
}

/* QEMU's option parser would take ",," for a literal ','; the kernel and
 * initrd paths are the only free-form values in an option list here. */
static int qemu_config_check(const LaunchConfig *c) {
        int r;

        if ((r = launch_config_check_value("QEMU", "kernel", c->kernel)) < 0 ||
            (r = launch_config_check_value("QEMU", "initrd", c->initrd)) < 0)
                return r;
        if (c->net_fd >= 0)
                return launch_config_check_value("QEMU", "MAC address", c->mac);
        return 0;
}

static int qemu_argv_machine(const LaunchConfig *c, uint64_t mib, char ***a) {
        int r;

        r = strv_extend_many(a, (const char *const[]) { c->binary, "-name", c->name, "-nodefaults", "-no-user-config",
                                                        "-display", "none", NULL });
        if (r < 0)
                return r;
        if (c->kvm)
                r = strv_extend_many(a, (const char *const[]) { "-accel", "kvm", "-cpu", "host", NULL });
        else
                r = strv_extend_many(a, (const char *const[]) { "-accel", "tcg", "-cpu", "max", NULL });
        if (r < 0)
                return r;

        if ((r = strv_extend(a, "-smp")) < 0 || (r = strv_extendf(a, "%u", c->cpus)) < 0 ||
            (r = strv_extend(a, "-m")) < 0 || (r = strv_extendf(a, "%" PRIu64 "M", mib)) < 0 ||
            (r = strv_extend(a, "-object")) < 0 ||
            (r = strv_extendf(a, "memory-backend-memfd,id=mem,size=%" PRIu64 "M,share=on", mib)) < 0 ||
            (r = strv_extend(a, "-numa")) < 0 || (r = strv_extend(a, "node,memdev=mem")) < 0)
                return r;

        if ((r = strv_extend(a, "-kernel")) < 0 || (r = strv_extend(a, c->kernel)) < 0)
                return r;
        if (c->initrd && ((r = strv_extend(a, "-initrd")) < 0 || (r = strv_extend(a, c->initrd)) < 0))
                return r;
        if ((r = strv_extend(a, "-append")) < 0 || (r = strv_extend(a, c->cmdline)) < 0)
                return r;
        return 0;
}

static int qemu_argv_devices(const LaunchConfig *c, char ***a) {
        int r;

        if ((r = strv_extend(a, "-chardev")) < 0 ||
            (r = strv_extendf(a, "socket,id=vfs,fd=%d", c->vhost_user_fd)) < 0 ||
            (r = strv_extend(a, "-device")) < 0 ||
            (r = strv_extend(a, "vhost-user-fs-pci,chardev=vfs,tag=" VIRTIOFS_ROOT_TAG)) < 0)
                return r;

        /* The NIC: the tap ch-launch created, as an fd. romfile= (none): with
         * direct kernel boot nothing uses the PXE option ROM, and QEMU would
         * otherwise need ipxe-qemu's efi-virtio.rom to start at all. */
        if (c->net_fd >= 0 &&
            ((r = strv_extend(a, "-netdev")) < 0 || (r = strv_extendf(a, "tap,id=net0,fd=%d", c->net_fd)) < 0 ||
             (r = strv_extend(a, "-device")) < 0 ||
             (r = strv_extendf(a, "virtio-net-pci,netdev=net0,mac=%s,romfile=", c->mac)) < 0))
                return r;

        if ((r = strv_extend(a, "-chardev")) < 0 ||
            (r = strv_extendf(a, "socket,id=serial0,fd=%d", c->serial_fd)) < 0 ||
            (r = strv_extend(a, "-serial")) < 0 || (r = strv_extend(a, "chardev:serial0")) < 0)
                return r;

        if ((r = strv_extend(a, "-device")) < 0 || (r = strv_extend(a, "virtio-serial-pci,id=vser0")) < 0 ||
            (r = strv_extend(a, "-chardev")) < 0 ||
            (r = strv_extendf(a, "socket,id=notify,fd=%d", c->notify_fd)) < 0 || (r = strv_extend(a, "-device")) < 0 ||
            (r = strv_extend(a, "virtconsole,bus=vser0.0,chardev=notify")) < 0)
                return r;

        if ((r = strv_extend(a, "-chardev")) < 0 || (r = strv_extendf(a, "socket,id=qmp,fd=%d", c->qmp_fd)) < 0 ||
            (r = strv_extend(a, "-mon")) < 0 || (r = strv_extend(a, "chardev=qmp,mode=control")) < 0)
                return r;
        return 0;
}

int qemu_build_argv(const LaunchConfig *c, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        uint64_t mib;
        int r;

        assert(c);
        assert(ret);
        qemu_config_assert(c);
        r = qemu_config_check(c);
        if (r < 0)
                return r;
        mib = (c->memory + (1 << 20) - 1) >> 20;

        if ((r = qemu_argv_machine(c, mib, &a)) < 0 || (r = qemu_argv_devices(c, &a)) < 0)
                return r;
        if ((r = strv_extend(&a, "-smbios")) < 0 || (r = strv_extendf(&a, "type=1,uuid=%s", c->uuid)) < 0)
                return r;

        /* QEMU's seccomp filter, on top of its own uid: no obsolete system
         * calls, no set*id() or capability changes, no fork/exec, no changes
         * to scheduling or CPU affinity. Everything it needs is an fd already. */
        if ((r = strv_extend(&a, "-sandbox")) < 0 ||
            (r = strv_extend(&a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")) < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}
