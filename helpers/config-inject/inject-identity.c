/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What makes the VM itself: its fstab, names, machine-id; cloud-init off. */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "inject-internal.h"
#include "log.h"
#include "macro.h"
#include "vm-identity.h"

int inject_fstab(const InjectContext *c) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        assert(c);
        r = inject_read_text(c, "/etc/fstab", INJECT_READ_MAX, true, &in, NULL);
        if (r < 0)
                return r;
        if (fstab_rewrite(in, &out) < 0)
                return log_oom();
        return inject_write_rewritten(c, "/etc/fstab", out, INJECT_READ_MAX, false, 0644, c->owner_uid, c->owner_gid,
                                      SAFE_WRITE_KEEP_ATTRS);
}

int inject_hostname(const InjectContext *c) {
        _cleanup_free_ char *s = NULL;

        assert(c);
        if (asprintf(&s, "%s\n", c->def->hostname) < 0)
                return log_oom();
        return inject_write_managed(c, "/etc/hostname", s, 0644);
}

int inject_hosts(const InjectContext *c) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        assert(c);
        r = inject_read_text(c, "/etc/hosts", INJECT_READ_MAX, true, &in, NULL);
        if (r < 0)
                return r;
        if (hosts_rewrite(in, c->def->hostname, &out) < 0)
                return log_oom();
        return inject_write_rewritten(c, "/etc/hosts", out, INJECT_READ_MAX, false, 0644, c->owner_uid, c->owner_gid,
                                      SAFE_WRITE_KEEP_ATTRS);
}

int inject_machine_id(const InjectContext *c) {
        char id[33], s[34];

        assert(c);
        vm_machine_id(c->def->name, id);
        snprintf(s, sizeof(s), "%s\n", id);
        return inject_write_managed(c, "/etc/machine-id", s, 0444);
}

/* The same file cowvm-mkbase leaves in the bases it makes (guest-files.h). */
int inject_cloud_init(const InjectContext *c) {
        assert(c);
        return guest_files_disable_cloud_init(&c->root, c->owner_uid, c->owner_gid, SAFE_WRITE_KEEP_ATTRS);
}
