/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "path-util.h"
#include "vm-layout.h"

const char *cowvm_state_dir(void) {
        const char *e = getenv("COWVM_STATE_DIR");
        return isempty(e) ? "/var/lib/cowvm" : e;
}

const char *cowvm_runtime_dir(void) {
        const char *e = getenv("COWVM_RUNTIME_DIR");
        return isempty(e) ? "/run/cowvm" : e;
}

void vm_layout_done(VmLayout *l) {
        free(l->state_dir);
        free(l->base_record);
        free(l->runtime_dir);
        free(l->root_dir);
        free(l->virtiofsd_socket);
        free(l->vmm_dir);
        free(l->ephemeral_dir);
        free(l->upper_dir);
        free(l->work_dir);
        *l = (VmLayout) {};
}

int vm_layout_make(const char *name, bool ephemeral, VmLayout *ret) {
        _cleanup_(vm_layout_done) VmLayout l = {};

        assert(name && !strchr(name, '/') && !isempty(name));
        assert(ret);

        l.state_dir = path_join3(cowvm_state_dir(), "vms", name);
        l.runtime_dir = path_join(cowvm_runtime_dir(), name);
        if (!l.state_dir || !l.runtime_dir)
                return -ENOMEM;
        l.base_record = path_join(l.state_dir, VM_LAYOUT_BASE_RECORD);
        l.root_dir = path_join(l.runtime_dir, "root");
        l.virtiofsd_socket = path_join(l.runtime_dir, "virtiofsd.sock");
        l.vmm_dir = path_join(l.runtime_dir, "vmm");
        l.ephemeral_dir = path_join(l.runtime_dir, "ephemeral");
        if (!l.base_record || !l.root_dir || !l.virtiofsd_socket || !l.vmm_dir || !l.ephemeral_dir)
                return -ENOMEM;
        /* An ephemeral VM's upper layer lives in its own tmpfs under /run,
         * never at the path of a persistent upper: flipping Ephemeral= on
         * cannot hide or discard an existing disk. */
        l.upper_dir = path_join(ephemeral ? l.ephemeral_dir : l.state_dir, "upper");
        l.work_dir = path_join(ephemeral ? l.ephemeral_dir : l.state_dir, "work");
        if (!l.upper_dir || !l.work_dir)
                return -ENOMEM;
        *ret = l;
        l = (VmLayout) {};
        return 0;
}

char *vm_layout_base_dir(const char *base) {
        assert(!isempty(base));
        return base[0] == '/' ? strdup(base) : path_join3(cowvm_state_dir(), "bases", base);
}

char *vm_layout_bases_dir(void) {
        return path_join(cowvm_state_dir(), "bases");
}

char *vm_layout_vms_dir(void) {
        return path_join(cowvm_state_dir(), "vms");
}

char *vm_layout_uid_dir(void) {
        return path_join(cowvm_runtime_dir(), ".uid");
}

/* ---- what a base may not be ---------------------------------------------- */

typedef struct HostArea {
        const char *path; /* NULL: below the state directory, see `state_sub` */
        const char *state_sub;
        bool runtime;
        const char *what;
        bool inside_too; /* a path below it is refused as well */
} HostArea;

static const HostArea host_areas[] = {
        { .state_sub = "vms", .what = "the VMs' disks", .inside_too = true },
        { .runtime = true, .what = "the VMs' runtime state and roots", .inside_too = true },
        { "/proc", .what = "the host kernel's live state", .inside_too = true },
        { "/sys", .what = "the host kernel's live state", .inside_too = true },
        { "/dev", .what = "the host's devices", .inside_too = true },
        { "/etc", .what = "the host's configuration and secrets" },
        { "/root", .what = "root's home" },
        { "/home", .what = "the users' files" },
        { "/boot", .what = "the host's kernels" },
};

const char *base_path_refusal(const char *base, char **ret_buf) {
        *ret_buf = NULL;
        if (streq(base, "/"))
                return "it is the host's root file system: the guest would read every file of the host "
                       "(/etc/shadow, its SSH host keys) and every VM's disk";

        for (size_t i = 0; i < ELEMENTSOF(host_areas); i++) {
                const HostArea *a = &host_areas[i];
                _cleanup_free_ char *dir = a->state_sub ? path_join(cowvm_state_dir(), a->state_sub)
                                                        : strdup(a->runtime ? cowvm_runtime_dir() : a->path);
                const char *how;

                if (!dir)
                        return "out of memory";
                if (streq(dir, base))
                        how = "is";
                else if (path_is_below_or_at(dir, base))
                        how = "contains";
                else if (a->inside_too && path_is_below_or_at(base, dir))
                        how = "lies inside";
                else
                        continue;
                if (asprintf(ret_buf, "it %s %s, %s, which a guest must never see", how, dir, a->what) < 0)
                        return "out of memory";
                return *ret_buf;
        }
        return NULL;
}
