/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <stdlib.h>

#include "guest-files.h"
#include "log.h"
#include "macro.h"
#include "path-util.h"
#include "strv.h"

/* Debian's ssh.service does not create missing host keys, and a cowvm VM
 * has none of its base's (VMs must not share them). Ed25519 and ECDSA only:
 * `ssh-keygen -A` would make an RSA key too, which took more than five
 * minutes under QEMU's TCG emulation (prime search). */
const char guest_keygen_unit[] = "# Written by cowvm (cowvm-mkbase into a base, config-inject at every start of a\n"
                                 "# VM); changes made here are lost.\n"
                                 "[Unit]\n"
                                 "Description=Generate this VM's own SSH host keys\n"
                                 "Documentation=man:config-inject(8) man:cowvm-mkbase(8)\n"
                                 "# cowvm removes host keys that came with the base: VMs must not share them.\n"
                                 "ConditionPathExists=|!/etc/ssh/ssh_host_ed25519_key\n"
                                 "ConditionPathExists=|!/etc/ssh/ssh_host_ecdsa_key\n"
                                 "Before=ssh.service ssh.socket sshd.service\n"
                                 "\n"
                                 "# Ed25519 and ECDSA only: an RSA key takes minutes under emulation and would\n"
                                 "# hold up the boot (bases made by cowvm-mkbase point sshd at these two).\n"
                                 "[Service]\n"
                                 "Type=oneshot\n"
                                 "ExecStart=/bin/sh -c 'for t in ed25519 ecdsa; do f=/etc/ssh/ssh_host_$${t}_key; "
                                 "[ -e $$f ] || /usr/bin/ssh-keygen -q -t $$t -N \\\"\\\" -f $$f || exit 1; done'\n"
                                 "\n"
                                 "[Install]\n"
                                 "WantedBy=multi-user.target\n";

/* cloud-init is disabled outright rather than pointed at the None
 * datasource: everything it would do here comes from the definition already
 * (host name, network, keys, host keys), and with any datasource its modules
 * would override what was injected: disable_root rewrites root's
 * authorized_keys, ssh_deletekeys replaces host keys, the fallback network
 * config names a NIC by name, and ds-identify costs boot time looking for
 * metadata. */
const char guest_cloud_init_disabled[] =
        "cloud-init is disabled in this VM: cowvm configures it from its definition\n"
        "(host name, network, SSH keys) at every start, and cloud-init would undo that.\n";

int guest_files_install_keygen_unit(const GuestTree *t, uid_t uid, gid_t gid, SafeWriteFlags flags) {
        int r;

        assert(t);
        r = guest_tree_write_text(t, GUEST_UNIT_DIR "/" GUEST_KEYGEN_UNIT, guest_keygen_unit, 0644, uid, gid, flags);
        if (r < 0)
                return r;
        /* As `systemctl enable` would; relative, so it means the same in the
         * tree and in the running guest. */
        return guest_tree_symlink(t, "../" GUEST_KEYGEN_UNIT, GUEST_MULTI_USER_WANTS GUEST_KEYGEN_UNIT);
}

int guest_files_remove_keygen_unit(const GuestTree *t, const char *why) {
        int r, k;

        assert(t && why);
        /* Both, even if the first fails: each failure is logged. */
        r = guest_tree_remove(t, GUEST_MULTI_USER_WANTS GUEST_KEYGEN_UNIT, why);
        k = guest_tree_remove(t, GUEST_UNIT_DIR "/" GUEST_KEYGEN_UNIT, why);
        return r < 0 ? r : k;
}

int guest_files_foreach_host_key(const GuestTree *t, int (*fn)(const GuestTree *t, const char *path, void *userdata),
                                 void *userdata) {
        _cleanup_strv_free_ char **names = NULL;
        int r, ret = 0;

        assert(t && fn);
        r = guest_tree_list(t, "/etc/ssh", "ssh_host_", &names);
        if (r < 0)
                return r;
        STRV_FOREACH (n, names) {
                _cleanup_free_ char *path = path_join("/etc/ssh", *n);

                if (!path)
                        return log_oom();
                r = fn(t, path, userdata);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int guest_files_disable_cloud_init(const GuestTree *t, uid_t uid, gid_t gid, SafeWriteFlags flags) {
        assert(t);
        if (!guest_tree_exists(t, "/etc/cloud") && !guest_tree_exists(t, "/usr/bin/cloud-init"))
                return 0;
        return guest_tree_write_text(t, GUEST_CLOUD_INIT_DISABLED, guest_cloud_init_disabled, 0644, uid, gid, flags);
}
