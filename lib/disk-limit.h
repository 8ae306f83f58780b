/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The limit on what a VM's upper layer may hold (DiskSize=), enforced by the
 * kernel: the VM's state directory is a btrfs subvolume with a qgroup limit,
 * the way systemd-machined limits /var/lib/machines. The decisions are pure
 * functions here, apart from the few ioctls they lead to, so that they can
 * be tested without a btrfs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum StateDirPlan {
        STATE_DIR_MKDIR,            /* no btrfs, no limit asked for: a plain directory, as ever */
        STATE_DIR_CREATE_SUBVOLUME, /* on btrfs: always a subvolume, so a limit can be set later */
        STATE_DIR_USE,              /* exists, and can carry what is asked of it */
        STATE_DIR_REFUSE_NOT_BTRFS, /* a limit asked for where none can be set */
        STATE_DIR_REFUSE_PLAIN_DIR, /* a limit asked for on an existing plain directory on btrfs */
} StateDirPlan;

/* What to do with a VM's state directory: whether it `exists`, whether the
 * file system it is (or will be) on is btrfs, whether it is a subvolume, and
 * whether DiskSize= asks for a limit. Never plans to move or remove anything. */
StateDirPlan state_dir_plan(bool exists, bool on_btrfs, bool is_subvolume, bool limit_wanted);

bool fs_is_btrfs_type(int64_t f_type);
/* "ext4", "tmpfs", ... for a statfs f_type, or NULL if it is none cowvm knows. */
const char *fs_type_name(int64_t f_type);

/* A size for messages: "512M", "1.5G", "300K", "17B" (base 1024). */
char *format_size(char *buf, size_t size, uint64_t bytes);

/* Bytes free for unprivileged writers (f_bavail) of a file system. */
uint64_t statvfs_available(uint64_t f_bavail, uint64_t f_frsize);

/* The tmpfs of an ephemeral VM: its size is DiskSize=, else the VM's memory;
 * its inodes, which cost host memory that size= does not count, one per 4K. */
void ephemeral_tmpfs_limits(uint64_t disk_size, uint64_t memory, uint64_t *ret_size, uint64_t *ret_inodes);

/* fd-based probes and ioctls; negative errno on failure. */
int fd_is_btrfs(int fd);
int fd_is_btrfs_subvolume(int fd);
int fd_fs_type(int fd, int64_t *ret);
/* Creates subvolume `name` in the directory `parent_fd`, mode 0700. */
int btrfs_subvolume_make_at(int parent_fd, const char *name);
/* Sets the limit of referenced bytes of the subvolume `fd` is the root of;
 * 0 removes it. -ENOTCONN: quotas are not enabled on the file system. */
int btrfs_subvolume_set_limit(int fd, uint64_t max_referenced);
