/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject-internal.h"
#include "log.h"
#include "macro.h"
#include "safe-fs.h"

int inject_read_text(const InjectContext *c, const char *path, size_t max, bool missing_ok, char **ret,
                     struct stat *ret_st) {
        assert(c);
        return guest_tree_read_text(&c->root, path, max, missing_ok ? GUEST_READ_MISSING_OK : 0, ret, ret_st);
}

/* An edit can make a file longer (fstab's disabled lines): one that no
 * longer fits is not written, or the VM could never start again. A guest
 * file we only tidy up (`needed` false) is then left as the guest made it;
 * one the definition needs changed (a password, keys) fails the start. */
int inject_write_rewritten(const InjectContext *c, const char *path, const char *content, size_t max, bool needed,
                           mode_t mode, uid_t uid, gid_t gid, SafeWriteFlags flags) {
        size_t n;

        assert(c && path && content);
        n = strlen(content);
        if (n > max) {
                if (!needed) {
                        log_warning("Leaving '%s' in the VM root %s as it is: edited it would be %zu bytes, more "
                                    "than the %zu that config-inject reads back.",
                                    path, c->root.path, n, max);
                        return 0;
                }
                return log_error_errno(SYNTHETIC_ERRNO(EFBIG),
                                       "Cannot update '%s' in the VM root %s: edited it would be %zu bytes, more than "
                                       "the %zu that config-inject reads back. Shrink the file in the VM's upper "
                                       "layer.",
                                       path, c->root.path, n, max);
        }
        return guest_tree_write_text(&c->root, path, content, mode, uid, gid, flags);
}

int inject_write_managed(const InjectContext *c, const char *path, const char *content, mode_t mode) {
        assert(c);
        return guest_tree_write_text(&c->root, path, content, mode, c->owner_uid, c->owner_gid, SAFE_WRITE_KEEP_ATTRS);
}

int inject_remove(const InjectContext *c, const char *path) {
        assert(c);
        return guest_tree_remove(&c->root, path, INJECT_REMOVED_WHY);
}

bool inject_guest_has_systemd(const InjectContext *c) {
        assert(c);
        return guest_tree_exists(&c->root, "/lib/systemd/systemd") ||
               guest_tree_exists(&c->root, "/usr/lib/systemd/systemd");
}

int inject_managed_header(const InjectContext *c, char **ret) {
        assert(c && ret);
        if (asprintf(ret,
                     "# Written by cowvm's config-inject from %s at every start of vm@%s.service;\n"
                     "# changes made here are lost. Edit the definition instead.\n",
                     strempty(c->def->path), c->def->name) < 0)
                return log_oom();
        return 0;
}

int inject_all(const InjectContext *c) {
        static int (*const writers[])(const InjectContext *c) = {
                inject_fstab,    inject_hostname,        inject_hosts,         inject_machine_id, inject_network,
                inject_password, inject_authorized_keys, inject_ssh_host_keys, inject_ready_unit, inject_cloud_init,
        };
        int ret = 0;

        assert(c && c->def);
        for (size_t i = 0; i < ELEMENTSOF(writers); i++) {
                int r = writers[i](c);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int inject_vm(const VmDefinition *d) {
        _cleanup_close_ int root_fd = -EBADF, base_fd = -EBADF;
        int r, k;

        r = safe_fs_open_root(d->layout.root_dir, &root_fd);
        if (r == -ENOSYS)
                return log_error_errno(r, "Cannot configure VM '%s': %s.", d->name, safe_fs_error_explain(r));
        if (r < 0)
                return log_error_errno(r, "Failed to open the root of VM '%s' at '%s': %m", d->name,
                                       d->layout.root_dir);

        r = inject_verify_overlay(root_fd, d);
        if (r < 0)
                return r;

        /* Only to recognize host keys that came with the base; optional. */
        r = safe_fs_open_root(d->base_dir, &base_fd);
        if (r < 0)
                log_warning_errno(r, "Failed to open the base '%s', SSH host keys are left alone: %m", d->base_dir);

        InjectContext c = {
                .root = { .fd = root_fd, .path = d->layout.root_dir, .label = INJECT_ROOT_LABEL },
                .base_fd = base_fd,
                .def = d,
                .owner_uid = 0,
                .owner_gid = 0,
        };
        /* Each directory written into is fsync'ed once, at the end. */
        safe_fs_sync_begin();
        r = inject_all(&c);
        k = safe_fs_sync_end();
        if (k < 0 && r >= 0)
                r = log_error_errno(k, "Failed to sync the root of VM '%s': %m", d->name);
        if (r < 0)
                return log_error_errno(r, "Failed to configure VM '%s' (see above); not starting it.", d->name);

        log_info("Configured VM '%s' in %s.", d->name, d->layout.root_dir);
        return 0;
}
