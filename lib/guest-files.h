/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Files that both cowvm-mkbase (into the bases it makes) and config-inject
 * (into each VM's root, at every start) write, defined once. Their text
 * depends on nothing of a VM, so a VM's first start on a base that already
 * has them finds them as it would write them and writes nothing: the base's
 * copy is not copied up into the VM's upper layer.
 */

#include <sys/types.h>

#include "guest-tree.h"

#define GUEST_UNIT_DIR "/etc/systemd/system"
#define GUEST_MULTI_USER_WANTS GUEST_UNIT_DIR "/multi-user.target.wants/"
#define GUEST_KEYGEN_UNIT "cowvm-ssh-keygen.service"
#define GUEST_CLOUD_INIT_DISABLED "/etc/cloud/cloud-init.disabled"

extern const char guest_keygen_unit[];
extern const char guest_cloud_init_disabled[];

/* Writes cowvm-ssh-keygen.service (owned by uid:gid, 0644) and enables it. */
int guest_files_install_keygen_unit(const GuestTree *t, uid_t uid, gid_t gid, SafeWriteFlags flags);
/* Removes both again, if they are there. */
int guest_files_remove_keygen_unit(const GuestTree *t, const char *why);

/* Calls fn for each SSH host key file (/etc/ssh/ssh_host_*, by its guest
 * path), which both programs remove: VMs must not share host keys. Goes on
 * after a failure; returns the first. */
int guest_files_foreach_host_key(const GuestTree *t, int (*fn)(const GuestTree *t, const char *path, void *userdata),
                                 void *userdata);

/* Disables cloud-init, if the tree has it. */
int guest_files_disable_cloud_init(const GuestTree *t, uid_t uid, gid_t gid, SafeWriteFlags flags);
