/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "disk-limit.h"

/* The inode number of the root directory of every btrfs subvolume
 * (BTRFS_FIRST_FREE_OBJECTID, not exported to user space). */
#define BTRFS_SUBVOLUME_ROOT_INO 256
/* What BTRFS_IOC_QGROUP_LIMIT takes as "no limit". */
#define BTRFS_QGROUP_NO_LIMIT UINT64_MAX

StateDirPlan state_dir_plan(bool exists, bool on_btrfs, bool is_subvolume, bool limit_wanted) {
        if (!exists) {
                if (on_btrfs)
                        return STATE_DIR_CREATE_SUBVOLUME;
                return limit_wanted ? STATE_DIR_REFUSE_NOT_BTRFS : STATE_DIR_MKDIR;
        }
        if (!limit_wanted || (on_btrfs && is_subvolume))
                return STATE_DIR_USE;
        return on_btrfs ? STATE_DIR_REFUSE_PLAIN_DIR : STATE_DIR_REFUSE_NOT_BTRFS;
}

bool fs_is_btrfs_type(int64_t f_type) {
        return f_type == (int64_t) BTRFS_SUPER_MAGIC;
}

const char *fs_type_name(int64_t f_type) {
        static const struct {
                int64_t magic;
                const char *name;
        } table[] = {
                { BTRFS_SUPER_MAGIC, "btrfs" },
                { EXT4_SUPER_MAGIC, "ext4" },
                { XFS_SUPER_MAGIC, "xfs" },
                { TMPFS_MAGIC, "tmpfs" },
                { OVERLAYFS_SUPER_MAGIC, "overlay" },
                { F2FS_SUPER_MAGIC, "f2fs" },
                { NFS_SUPER_MAGIC, "nfs" },
                { 0x65735546, "fuse" },
                { 0x2fc12fc1, "zfs" },
                { RAMFS_MAGIC, "ramfs" },
        };

        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                if (table[i].magic == f_type)
                        return table[i].name;
        return NULL;
}

char *format_size(char *buf, size_t size, uint64_t bytes) {
        static const char suffixes[] = "KMGTPE";
        double v = (double) bytes;
        size_t i = 0;

        if (bytes < 1024) {
                (void) snprintf(buf, size, "%uB", (unsigned) bytes);
                return buf;
        }
        while (v >= 1024.0 * 1024.0 && i + 1 < sizeof suffixes - 1) {
                v /= 1024.0;
                i++;
        }
        v /= 1024.0;
        /* Whole numbers as such ("512M"), others with one decimal ("1.5G"). */
        if (bytes % (1ULL << (10 * (i + 1))) == 0)
                (void) snprintf(buf, size, "%.0f%c", v, suffixes[i]);
        else
                (void) snprintf(buf, size, "%.1f%c", v, suffixes[i]);
        return buf;
}

uint64_t statvfs_available(uint64_t f_bavail, uint64_t f_frsize) {
        if (f_frsize != 0 && f_bavail > UINT64_MAX / f_frsize)
                return UINT64_MAX;
        return f_bavail * f_frsize;
}

void ephemeral_tmpfs_limits(uint64_t disk_size, uint64_t memory, uint64_t *ret_size, uint64_t *ret_inodes) {
        uint64_t size = disk_size > 0 ? disk_size : memory;

        *ret_size = size;
        *ret_inodes = size / 4096 > 0 ? size / 4096 : 1;
}

int fd_fs_type(int fd, int64_t *ret) {
        struct statfs sf;

        if (fstatfs(fd, &sf) < 0)
                return -errno;
        *ret = (int64_t) sf.f_type;
        return 0;
}

int fd_is_btrfs(int fd) {
        int64_t t;
        int r = fd_fs_type(fd, &t);

        return r < 0 ? r : t == (int64_t) BTRFS_SUPER_MAGIC;
}

int fd_is_btrfs_subvolume(int fd) {
        struct stat st;
        int r = fd_is_btrfs(fd);

        if (r <= 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) && st.st_ino == BTRFS_SUBVOLUME_ROOT_INO;
}

int btrfs_subvolume_make_at(int parent_fd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};
        mode_t old;
        int r = 0;

        if (strlen(name) >= sizeof args.name)
                return -ENAMETOOLONG;
        strcpy(args.name, name);
        /* The subvolume's root gets 0777 & ~umask: created root-only from the
         * start, the upper layer inside it is never reachable to others. */
        old = umask(0077);
        if (ioctl(parent_fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0)
                r = -errno;
        umask(old);
        return r;
}

int btrfs_subvolume_set_limit(int fd, uint64_t max_referenced) {
        struct btrfs_ioctl_qgroup_limit_args args = {
                .qgroupid = 0, /* the subvolume of fd */
                .lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER,
                .lim.max_rfer = max_referenced > 0 ? max_referenced : BTRFS_QGROUP_NO_LIMIT,
        };

        if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0)
                return -errno;
        return 0;
}
