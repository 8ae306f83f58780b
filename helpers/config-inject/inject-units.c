/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The guest's own units: cowvm-ssh-keygen.service (with the removal of the
 * base's host keys) and, for ReadyOn=guest, cowvm-ready.service. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject-internal.h"
#include "log.h"
#include "macro.h"

#define READY_UNIT "cowvm-ready.service"
#define HVC0_GETTY GUEST_UNIT_DIR "/serial-getty@hvc0.service"

/* Host keys are compared whole; real ones are a few hundred bytes. */
#define HOST_KEY_MAX (64U * 1024U)

/* Removes `path` if it is byte-identical to the base's: in the merged view
 * this leaves a whiteout in the upper layer, so the guest sees no key and
 * generates its own. A key the guest made (different from the base's) is
 * kept. */
static int remove_if_from_base(const GuestTree *t, const char *path, void *userdata) {
        const InjectContext *c = userdata;
        _cleanup_free_ char *ours = NULL, *base = NULL;
        size_t ours_size, base_size;
        int r;

        if (c->base_fd < 0) {
                log_warning("Cannot tell whether '%s' in the VM root %s came with the base (the base is not "
                            "available); leaving it.",
                            path, t->path);
                return 0;
        }
        r = safe_read_file_at(c->base_fd, path, HOST_KEY_MAX, &base, &base_size, NULL);
        if (r < 0)
                return 0; /* not in the base: the guest's own */
        r = safe_read_file_at(t->fd, path, HOST_KEY_MAX, &ours, &ours_size, NULL);
        if (r < 0) {
                log_warning("Cannot read '%s' in the VM root %s, leaving it: %s", path, t->path,
                            safe_fs_error_explain(r) ?: strerror(-r));
                return 0;
        }
        if (ours_size != base_size || memcmp(ours, base, ours_size) != 0)
                return 0;
        return guest_tree_remove(t, path, "it came with the base, and VMs must not share host keys.");
}

/* The unit is guest-files.h's, the same cowvm-mkbase puts into a base: no
 * per-VM header, so that a VM's start does not copy the base's up. */
int inject_ssh_host_keys(const InjectContext *c) {
        int r;

        assert(c);
        if (!guest_tree_exists(&c->root, "/usr/sbin/sshd") && !guest_tree_exists(&c->root, "/etc/ssh/sshd_config"))
                return guest_files_remove_keygen_unit(&c->root, INJECT_REMOVED_WHY);

        r = guest_files_foreach_host_key(&c->root, remove_if_from_base, (void *) c);
        if (r < 0)
                return r;

        if (!inject_guest_has_systemd(c)) {
                log_notice("The VM root %s has no systemd: its init must create SSH host keys (ssh-keygen -A).",
                           c->root.path);
                return 0;
        }
        return guest_files_install_keygen_unit(&c->root, c->owner_uid, c->owner_gid, SAFE_WRITE_KEEP_ATTRS);
}

/* ---- ReadyOn=guest: the guest's side of the protocol --------------------- */

static const char ready_unit[] = "[Unit]\n"
                                 "Description=Tell the cowvm host that this VM has booted\n"
                                 "Documentation=man:config-inject(8)\n"
                                 "# The first virtio console is cowvm's readiness channel: KEY=VALUE lines.\n"
                                 "Wants=dev-hvc0.device\n"
                                 "After=dev-hvc0.device multi-user.target\n"
                                 "\n"
                                 "[Service]\n"
                                 "Type=oneshot\n"
                                 "RemainAfterExit=yes\n"
                                 "ExecStart=/bin/sh -c 'echo READY=1 > /dev/hvc0'\n"
                                 "\n"
                                 "[Install]\n"
                                 "WantedBy=multi-user.target\n";

/* Removes our unit and undoes our mask of the getty, but only if it is one. */
static int remove_ready_unit(const InjectContext *c) {
        _cleanup_close_ int dfd = -EBADF;
        _cleanup_free_ char *name = NULL;
        char target[16];
        struct stat st;
        ssize_t n = -1;
        int r;

        r = inject_remove(c, GUEST_MULTI_USER_WANTS READY_UNIT);
        if (r >= 0)
                r = inject_remove(c, GUEST_UNIT_DIR "/" READY_UNIT);
        if (r < 0)
                return r;
        if (safe_lstat_at(c->root.fd, HVC0_GETTY, &st) < 0 || !S_ISLNK(st.st_mode))
                return 0;
        if (safe_open_parent_at(c->root.fd, HVC0_GETTY, &dfd, &name) >= 0)
                n = readlinkat(dfd, name, target, sizeof(target));
        if (n == 9 && memcmp(target, "/dev/null", 9) == 0)
                return inject_remove(c, HVC0_GETTY);
        return 0;
}

int inject_ready_unit(const InjectContext *c) {
        _cleanup_free_ char *header = NULL, *unit = NULL;
        int r;

        assert(c);
        if (c->def->ready_on != READY_ON_GUEST || !inject_guest_has_systemd(c)) {
                if (c->def->ready_on == READY_ON_GUEST)
                        log_notice("The VM root %s has no systemd: its init must write READY=1 to /dev/hvc0 once "
                                   "booted.",
                                   c->root.path);
                return remove_ready_unit(c);
        }

        r = inject_managed_header(c, &header);
        if (r < 0)
                return r;
        if (asprintf(&unit, "%s%s", header, ready_unit) < 0)
                return log_oom();
        r = inject_write_managed(c, GUEST_UNIT_DIR "/" READY_UNIT, unit, 0644);
        if (r < 0)
                return r;
        r = guest_tree_symlink(&c->root, "../" READY_UNIT, GUEST_MULTI_USER_WANTS READY_UNIT);
        if (r < 0)
                return r;
        /* systemd-getty-generator starts a login prompt on hvc0 when it exists;
         * that console is the host's readiness channel, not a terminal. */
        return guest_tree_symlink(&c->root, "/dev/null", HVC0_GETTY);
}
