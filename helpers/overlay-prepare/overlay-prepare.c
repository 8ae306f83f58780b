/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * overlay-prepare start|mount|umount|stop NAME
 *
 * Run by overlay-prepare@NAME.service, which stands for the VM's root:
 *
 * start  checks that the base can boot, creates the upper layer on first
 *        start, makes sure it sits on a filesystem overlayfs can use,
 *        refuses a base that changed since the VM was created, and refuses
 *        to stack on whatever is already mounted at the VM's root.
 *        On btrfs the VM's state directory is a subvolume of its own, whose
 *        qgroup limit is DiskSize=; a start is refused when the file system
 *        of the upper layer has less than MinFreeSpace= left. It sets the
 *        VM's resource limits on its units (unit-limits.h).
 * mount  (after start) mounts the VM's root, in PID 1's mount namespace:
 *        the overlay of the upper layer over the base's layers, as the
 *        definition says now; for Ephemeral=yes VMs first a fresh tmpfs
 *        for the upper layer. systemd sees the mount (a mount unit of its
 *        own making, run-cowvm-NAME-root.mount), orders virtiofsd@NAME
 *        after it (RequiresMountsFor=) and unmounts it at shutdown.
 * umount (at stop) unmounts the root and the ephemeral tmpfs.
 * stop   (after umount) removes the VM's runtime directories. It only ever
 *        rmdir()s: if the overlay is somehow still mounted, nothing below it
 *        can be touched.
 *
 * start runs confined; mount and umount alone run outside the unit's
 * sandbox, since only a mount in PID 1's namespace is seen by everyone.
 * Done here rather than by a mount unit, the mount needs no unit file, and
 * so no daemon-reload for a new or edited definition.
 *
 * The upper layer is the VM's disk: nothing here deletes from it.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <libmount.h>

#include "disk-limit.h"
#include "layer-chain.h"
#include "log.h"
#include "main-func.h"
#include "mount-util.h"
#include "overlay-util.h"
#include "parse-util.h"
#include "path-util.h"
#include "base-record.h"
#include "safe-fs.h"
#include "strv.h"
#include "unit-limits.h"
#include "vm-boot.h"
#include "vm-definition.h"
#include "vm-layout.h"

/* ---- checks of the base ------------------------------------------------ */

/* The init the kernel will run: init= from KernelCommandLine=, else /sbin/init. */
static char *guest_init(const VmDefinition *d) {
        const char *p = d->kernel_command_line;

        while (p && *p) {
                size_t len;

                p += strspn(p, " ");
                len = strcspn(p, " ");
                if (len > 5 && strncmp(p, "init=", 5) == 0)
                        return strndup(p + 5, len - 5);
                p += len;
        }
        return strdup("/sbin/init");
}

/* The definition's Base= was checked as written; a base under bases/ may be
 * a symlink, and what it resolves to now is what the overlay will stack on. */
static int check_base_is_not_host_data(const VmDefinition *d) {
        _cleanup_free_ char *resolved = NULL, *buf = NULL;
        const char *why;

        resolved = realpath(d->base_dir, NULL);
        if (!resolved)
                return log_error_errno(errno, "Failed to resolve base '%s' of VM '%s': %m", d->base_dir, d->name);
        why = base_path_refusal(resolved, &buf);
        if (why)
                return log_error_errno(SYNTHETIC_ERRNO(EPERM),
                                       "Refusing base '%s' of VM '%s' (Base=%s in '%s'): it resolves to '%s', and %s.",
                                       d->base_dir, d->name, d->base, d->path, resolved, why);
        return 0;
}

static int check_regular_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        return S_ISREG(st.st_mode) ? 0 : -EINVAL;
}

/* The kernel and initrd ch-launch will boot: checked here, where a missing
 * one fails the start before anything is mounted. */
static int check_boot_files(VmDefinition *d) {
        int r;

        r = vm_boot_resolve(d);
        if (r < 0)
                return r;
        r = check_regular_file(d->kernel_path);
        if (r < 0)
                return log_error_errno(r,
                                       "VM '%s' has no kernel: '%s' is not a file. Set Kernel= in '%s' or install "
                                       "a kernel into the base (boot/vmlinuz).",
                                       d->name, d->kernel_path, d->path);
        r = d->initrd_path ? check_regular_file(d->initrd_path) : 0;
        if (r < 0)
                return log_error_errno(r, "VM '%s': initrd '%s' is not a file. Fix Initrd= in '%s'.", d->name,
                                       d->initrd_path, d->path);
        if (!d->initrd_path)
                log_notice("VM '%s' boots without an initrd: its kernel must have virtiofs built in.", d->name);
        return 0;
}

/* ---- the layers below the upper (layer-chain.h) --------------------------- */

static int log_chain_error(const VmDefinition *d, int error) {
        _cleanup_free_ char *parent = NULL;

        if (error == -ELOOP)
                return log_error_errno(error,
                                       "The bases below base '%s' of VM '%s' form a loop or are more than %d deep; "
                                       "check the parent records (.NAME.parent) in %s/bases.",
                                       d->base, d->name, LAYER_CHAIN_MAX_BASES, cowvm_state_dir());
        if (error == -EBADMSG)
                return log_error_errno(error,
                                       "A layer record of VM '%s' is malformed: '%s/snapshots' or a parent record "
                                       "(.NAME.parent) below base '%s' in %s/bases.",
                                       d->name, d->layout.state_dir, d->base, cowvm_state_dir());
        return log_error_errno(error, "Failed to read the layers of VM '%s': %m", d->name);
}

/* Every layer must be there and be what it says: a missing snapshot layer
 * or parent base would silently give the guest another tree. */
static int check_layer(const VmDefinition *d, const char *dir, bool own) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *resolved = NULL, *buf = NULL;
        const char *why;
        int r;

        r = safe_fs_open_root(dir, &fd);
        if (r < 0 && own)
                return log_error_errno(r,
                                       "Snapshot layer '%s' of VM '%s' is listed in '%s/snapshots' but cannot be "
                                       "opened: %m. If a snapshot was interrupted, 'cowvm snapshot %s' completes it.",
                                       dir, d->name, d->layout.state_dir, d->name);
        if (r < 0)
                return log_error_errno(r, "Base layer '%s' below base '%s' of VM '%s' cannot be opened: %m", dir,
                                       d->base, d->name);
        if (own)
                return 0;
        resolved = realpath(dir, NULL);
        if (!resolved)
                return log_error_errno(errno, "Failed to resolve base layer '%s': %m", dir);
        why = base_path_refusal(resolved, &buf);
        if (why)
                return log_error_errno(EPERM, "Refusing base layer '%s' of VM '%s': it resolves to '%s', and %s.", dir,
                                       d->name, resolved, why);
        return 0;
}

static int check_layer_chain(const VmDefinition *d) {
        _cleanup_strv_free_ char **dirs = NULL;
        _cleanup_free_ char *options = NULL;
        size_t n_vm = 0, i = 0;
        int r;

        r = layer_chain_dirs(d, &dirs, &n_vm);
        if (r < 0)
                return log_chain_error(d, r);
        STRV_FOREACH (p, dirs) {
                r = check_layer(d, *p, i++ < n_vm);
                if (r < 0)
                        return r;
        }
        r = overlay_mount_options(d, &options);
        if (r < 0)
                return log_oom();
        if (strlen(options) > LAYER_CHAIN_MAX_OPTIONS)
                return log_error_errno(E2BIG,
                                       "The %zu layers of VM '%s' make mount options of %zu bytes, more than fit "
                                       "in a page. Reset it to an older snapshot, or commit it to a base.",
                                       strv_length(dirs), d->name, strlen(options));
        return 0;
}

/* PATH as the guest will find it through the base's layers. */
static int open_in_base_chain(const VmDefinition *d, int base_fd, const char *path) {
        _cleanup_strv_free_ char **dirs = NULL;
        _cleanup_free_ char *found = NULL;
        VmDefinition plain = *d;
        int r;

        plain.ephemeral = true; /* the base's layers, not the VM's snapshots */
        if (layer_chain_dirs(&plain, &dirs, NULL) < 0 || strv_length(dirs) < 2)
                return safe_open_at(base_fd, path, O_PATH, 0);
        r = layer_stack_find(dirs, path, &found);
        if (r < 0)
                return r;
        return open(found, O_PATH | O_CLOEXEC);
}

/* cowvm(1) holds this lock while it moves the VM's layers. */
static int lock_state_dir(const VmDefinition *d, int *ret_fd) {
        int fd = open(d->layout.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", d->layout.state_dir);
        if (flock(fd, LOCK_EX) < 0) {
                safe_close(fd);
                return log_error_errno(errno, "Failed to lock '%s': %m", d->layout.state_dir);
        }
        *ret_fd = fd;
        return 0;
}

static int check_base(const VmDefinition *d, int *ret_base_fd) {
        _cleanup_close_ int base_fd = -EBADF, init_fd = -EBADF;
        _cleanup_free_ char *init = NULL;
        struct stat st;
        int r;

        r = safe_fs_open_root(d->base_dir, &base_fd);
        if (r == -ENOENT)
                return log_error_errno(r,
                                       "Base '%s' of VM '%s' does not exist. Create it with cowvm-mkbase(8), "
                                       "or point Base= in '%s' at an existing tree.",
                                       d->base_dir, d->name, d->path);
        if (r == -ENOSYS)
                return log_error_errno(r, "The kernel lacks openat2(); cowvm needs Linux 5.6 or newer.");
        if (r < 0)
                return log_error_errno(r, "Failed to open base '%s' of VM '%s': %m", d->base_dir, d->name);
        r = check_base_is_not_host_data(d);
        if (r < 0)
                return r;

        /* Resolved inside the base, as the guest will: /sbin/init is usually
         * an absolute symlink into the base's own /lib. */
        init = guest_init(d);
        if (!init)
                return log_oom();
        r = check_layer_chain(d);
        if (r < 0)
                return r;
        init_fd = open_in_base_chain(d, base_fd, init);
        if (init_fd < 0 || fstat(init_fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return log_error_errno(init_fd < 0 ? init_fd : ENOEXEC,
                                       "Base '%s' of VM '%s' cannot boot: it has no executable %s. "
                                       "Is it a root filesystem tree?",
                                       d->base_dir, d->name, init);

        *ret_base_fd = TAKE_FD(base_fd);
        return 0;
}

/* ---- the base record: which base the upper layer was made over --------- */

static bool dir_is_empty(int dir_fd, const char *name) {
        _cleanup_(closedirp) DIR *d = NULL;
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        struct dirent *de;

        if (fd < 0)
                return false;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return false;
        }
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return false;
        return true;
}

/* Base= names another base than the upper layer was made over. An empty
 * upper (a new VM, or one reset to its base) holds nothing of the old one
 * and may move; snapshots are layers over the old base too. */
static int base_moved(const VmDefinition *d, int state_fd, const BaseRecord *rec, const char *id) {
        _cleanup_(snapshot_list_done) SnapshotList snaps = {};
        int r;

        r = snapshot_list_read(d->layout.state_dir, &snaps);
        if (r < 0)
                return log_chain_error(d, r);
        if (snaps.n > 0)
                return log_error_errno(ESTALE,
                                       "VM '%s' has %zu snapshot(s) over base '%s', but '%s' now says Base=%s. "
                                       "Set Base= back; then either 'cowvm reset %s' (back to the pristine base, "
                                       "discarding the snapshots and the disk) and change Base=, or 'cowvm commit "
                                       "%s NEWBASE' to keep them as a base of their own.",
                                       d->name, snaps.n, rec->path, d->path, d->base, d->name, d->name);
        if (!dir_is_empty(state_fd, "upper"))
                return log_error_errno(ESTALE,
                                       "VM '%s' was created over base '%s', but '%s' now says Base=%s. Its upper "
                                       "layer holds changes relative to the old base and would be undefined over "
                                       "another one. Set Base= back, or move '%s' away to recreate the VM from "
                                       "the new base (its files stay in what you moved), or discard its disk "
                                       "with 'cowvm reset %s'.",
                                       d->name, rec->path, d->path, d->base, d->layout.state_dir, d->name);
        log_notice("VM '%s': its upper layer is empty; moving it from base '%s' to '%s'.", d->name, rec->path,
                   d->base_dir);
        r = base_record_write(state_fd, d->base_dir, id);
        if (r < 0)
                return log_error_errno(r, "Failed to write the base record of VM '%s': %m", d->name);
        return 0;
}

static int check_base_unchanged(const VmDefinition *d, int state_fd, int base_fd, bool upper_is_new) {
        _cleanup_(base_record_done) BaseRecord rec = {};
        _cleanup_free_ char *id = NULL;
        const char *record = d->layout.base_record;
        int r;

        r = layer_chain_identity(d, base_fd, &id);
        if (r < 0)
                return log_error_errno(r, "Failed to identify base '%s': %m", d->base_dir);

        r = base_record_read(record, &rec);
        if (r == -ENOENT) {
                if (!upper_is_new)
                        log_notice("VM '%s' has an upper layer but no record of its base; recording '%s' now.",
                                   d->name, d->base_dir);
                r = base_record_write(state_fd, d->base_dir, id);
                if (r < 0)
                        return log_error_errno(r, "Failed to write '%s': %m", record);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", record);

        if (!streq(rec.path, d->base_dir))
                return base_moved(d, state_fd, &rec, id);
        if (!streq(rec.id, id))
                return log_error_errno(SYNTHETIC_ERRNO(ESTALE),
                                       "Base '%s' of VM '%s' has changed since the VM was created (recorded id %s, "
                                       "now %s): it was modified or replaced. An overlay over a changed lower layer "
                                       "is undefined. Restore the original base, or move '%s' away to recreate the "
                                       "VM from the current base (its files stay in what you moved). "
                                       "Bases meant to change should be new bases: see cowvm-mkbase(8).",
                                       d->base_dir, d->name, rec.id, id, d->layout.state_dir);
        return 0;
}

/* ---- the upper layer --------------------------------------------------- */

/* A disk that is full cannot take even the overlay's own bookkeeping (nor
 * what config-inject writes): the start stops here, and says what frees it. */
static int log_disk_full(const VmDefinition *d, int error) {
        char size[32];

        if (error == EDQUOT && d->disk_size > 0)
                return log_error_errno(error,
                                       "The disk of VM '%s' is full: it holds its DiskSize=%s. Raise DiskSize= in "
                                       "'%s', or remove files from '%s' on the host, then start it again.",
                                       d->name, format_size(size, sizeof size, d->disk_size), d->path,
                                       d->layout.upper_dir);
        return log_error_errno(error,
                               "The disk of VM '%s' ('%s') is full: %m. Free space on its file system, then start "
                               "it again.",
                               d->name, d->layout.upper_dir);
}

/* overlayfs keeps its bookkeeping (whiteouts, opaque dirs, origin) in
 * trusted.* xattrs of the upper layer; a filesystem without them cannot
 * serve. Probed on the work dir, which overlayfs owns anyway. */
static int check_upper_fs(const VmDefinition *d) {
        struct stat su, sw;

        if (stat(d->layout.upper_dir, &su) < 0 || stat(d->layout.work_dir, &sw) < 0)
                return log_error_errno(errno, "Failed to stat the upper layer of VM '%s': %m", d->name);
        if (su.st_dev != sw.st_dev)
                return log_error_errno(SYNTHETIC_ERRNO(EXDEV),
                                       "'%s' and '%s' are on different filesystems; overlayfs needs its upper "
                                       "and work directories on one.",
                                       d->layout.upper_dir, d->layout.work_dir);
        if (setxattr(d->layout.work_dir, "trusted.cowvm.probe", "1", 1, 0) < 0) {
                if (errno == EDQUOT || errno == ENOSPC)
                        return log_disk_full(d, errno);
                return log_error_errno(errno,
                                       "The filesystem of '%s' cannot hold trusted.* extended attributes (%m); "
                                       "an overlayfs upper layer needs them. Put %s on ext4, xfs, btrfs or tmpfs.",
                                       d->layout.work_dir, cowvm_state_dir());
        }
        (void) removexattr(d->layout.work_dir, "trusted.cowvm.probe");
        return 0;
}

/* mkdir that accepts an existing directory but nothing else in its place. */
static int mkdir_exact(const char *path, mode_t mode, bool *ret_created) {
        struct stat st;

        if (mkdir(path, mode) >= 0) {
                if (ret_created)
                        *ret_created = true;
                return 0;
        }
        if (errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (ret_created)
                *ret_created = false;
        return 0;
}

static int mkdir_parents_and(const char *path, mode_t mode, bool *ret_created) {
        _cleanup_free_ char *copy = strdup(path);
        int r;

        if (!copy)
                return -ENOMEM;
        for (char *p = strchr(copy + 1, '/'); p; p = strchr(p + 1, '/')) {
                *p = '\0';
                r = mkdir_exact(copy, 0755, NULL);
                *p = '/';
                if (r < 0)
                        return r;
        }
        return mkdir_exact(path, mode, ret_created);
}

/* The upper directory's own mode and owner become those of the guest's "/"
 * (overlayfs takes the merged root's attributes from the upper root), so it
 * gets the base root's; the VM directory around it is root-only. */
static int make_upper_dirs(const VmDefinition *d, int base_fd, const char *parent, bool *ret_upper_created) {
        struct stat base_st;
        int r;

        if (fstat(base_fd, &base_st) < 0)
                return log_error_errno(errno, "Failed to stat base '%s': %m", d->base_dir);

        r = mkdir_parents_and(parent, 0700, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", parent);
        r = mkdir_exact(d->layout.upper_dir, base_st.st_mode & 07777, ret_upper_created);
        if (r < 0)
                return log_error_errno(r, "Failed to create upper layer '%s': %m", d->layout.upper_dir);
        if (*ret_upper_created && chown(d->layout.upper_dir, base_st.st_uid, base_st.st_gid) < 0)
                return log_error_errno(errno, "Failed to set the owner of '%s': %m", d->layout.upper_dir);
        r = mkdir_exact(d->layout.work_dir, 0700, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to create work directory '%s': %m", d->layout.work_dir);
        return 0;
}

static int mount_ephemeral_tmpfs(const VmDefinition *d, const char *dir) {
        char options[128];
        uint64_t size, inodes;
        int r;

        /* Without size= a tmpfs may take half the host's RAM; without
         * nr_inodes= files of no size take it too. */
        ephemeral_tmpfs_limits(d->disk_size, d->memory, &size, &inodes);
        (void) snprintf(options, sizeof options, "mode=0700,size=%" PRIu64 ",nr_inodes=%" PRIu64, size, inodes);

        r = mkdir_parents_and(dir, 0700, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", dir);

        /* A tmpfs left from an earlier run holds nothing anyone may keep. */
        r = mount_find(dir, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read the mount table: %m");
        if (r > 0 && umount2(dir, 0) < 0)
                return log_error_errno(errno, "Failed to unmount the stale tmpfs at '%s': %m", dir);

        if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
                return log_error_errno(errno, "Failed to mount a tmpfs for ephemeral VM '%s' at '%s': %m", d->name,
                                       dir);
        return 0;
}

/* ---- the disk limit and the host's reserve ------------------------------ */

static const char *fs_name(int64_t f_type, char *buf, size_t size) {
        const char *n = fs_type_name(f_type);

        if (n)
                return n;
        (void) snprintf(buf, size, "a file system of type 0x%" PRIx64, (uint64_t) f_type);
        return buf;
}

static int refuse_not_btrfs(const VmDefinition *d, const char *vms, int64_t f_type) {
        char size[32], type[64];

        return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),
                               "VM '%s' has DiskSize=%s, but its state directory '%s' is on %s, where cowvm cannot "
                               "limit it: a limit needs %s on btrfs, with quotas enabled ('btrfs quota enable "
                               "%s'). Set up the host as cowvm-mkbase(8) describes under HOST SETUP, or remove "
                               "DiskSize= from '%s' (or cowvm.conf).",
                               d->name, format_size(size, sizeof size, d->disk_size), d->layout.state_dir,
                               fs_name(f_type, type, sizeof type), vms, vms, d->path);
}

static int refuse_plain_dir(const VmDefinition *d) {
        char size[32];

        return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),
                               "VM '%s' has DiskSize=%s, but its state directory '%s' is on btrfs as a plain "
                               "directory (it was made before it could be a subvolume), and only a subvolume can "
                               "be limited. With the VM stopped, convert it: 'mv %s %s.old && btrfs subvolume "
                               "create %s && chmod 700 %s && cp -a --reflink=always %s.old/. %s/', start the "
                               "VM, then remove %s.old (see HOST SETUP in cowvm-mkbase(8)). Or remove DiskSize= "
                               "from '%s'. Nothing was changed.",
                               d->name, format_size(size, sizeof size, d->disk_size), d->layout.state_dir,
                               d->layout.state_dir, d->layout.state_dir, d->layout.state_dir, d->layout.state_dir,
                               d->layout.state_dir, d->layout.state_dir, d->layout.state_dir, d->path);
}

/* Sets the limit to DiskSize=, or removes it: the definition says what the
 * limit is, so a DiskSize= taken out of it takes the limit away too. */
static int apply_disk_limit(const VmDefinition *d, int fd, const char *vms) {
        char size[32];
        int r;

        r = btrfs_subvolume_set_limit(fd, d->disk_size);
        if (r < 0 && d->disk_size == 0) {
                /* No quotas, no limit to remove. */
                if (r != -ENOTCONN && r != -ENOENT)
                        log_warning_errno(r, "Failed to remove the disk limit of VM '%s', leaving it: %m", d->name);
                return 0;
        }
        if (r == -ENOTCONN)
                return log_error_errno(r,
                                       "VM '%s' has DiskSize=%s, but quotas are not enabled on the btrfs file "
                                       "system of '%s', so it cannot be limited. Enable them once with 'btrfs "
                                       "quota enable %s', then start the VM again.",
                                       d->name, format_size(size, sizeof size, d->disk_size), vms, vms);
        if (r < 0)
                return log_error_errno(r, "Failed to limit the subvolume '%s' of VM '%s' to DiskSize=%s: %m",
                                       d->layout.state_dir, d->name, format_size(size, sizeof size, d->disk_size));
        if (d->disk_size > 0)
                log_info("VM '%s': its disk '%s' may hold %s (DiskSize=).", d->name, d->layout.state_dir,
                         format_size(size, sizeof size, d->disk_size));
        return 0;
}

static int mkdir_state_dir(const VmDefinition *d) {
        int r = mkdir_exact(d->layout.state_dir, 0700, NULL);

        return r < 0 ? log_error_errno(r, "Failed to create '%s': %m", d->layout.state_dir) : 0;
}

/* Makes sure the state directory exists: on btrfs a subvolume, limited to
 * DiskSize=. Never moves or removes what is there. */
static int prepare_state_dir(const VmDefinition *d) {
        _cleanup_free_ char *vms = vm_layout_vms_dir();
        _cleanup_close_ int parent_fd = -EBADF, fd = -EBADF;
        int64_t f_type = 0;
        int r, subvolume = 0;

        if (!vms)
                return log_oom();
        r = mkdir_parents_and(vms, 0755, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", vms);
        parent_fd = open(vms, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (parent_fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", vms);
        fd = openat(parent_fd, d->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to open the state directory '%s' of VM '%s': %m",
                                       d->layout.state_dir, d->name);
        r = fd_fs_type(fd >= 0 ? fd : parent_fd, &f_type);
        if (r >= 0 && fd >= 0)
                r = subvolume = fd_is_btrfs_subvolume(fd);
        if (r < 0)
                return log_error_errno(r, "Failed to inspect '%s': %m", d->layout.state_dir);

        switch (state_dir_plan(fd >= 0, fs_is_btrfs_type(f_type), subvolume > 0, d->disk_size > 0)) {
        case STATE_DIR_REFUSE_NOT_BTRFS:
                return refuse_not_btrfs(d, vms, f_type);
        case STATE_DIR_REFUSE_PLAIN_DIR:
                return refuse_plain_dir(d);
        case STATE_DIR_MKDIR:
                return mkdir_state_dir(d);
        case STATE_DIR_USE:
                return subvolume > 0 ? apply_disk_limit(d, fd, vms) : 0;
        case STATE_DIR_CREATE_SUBVOLUME:
                break;
        }

        r = btrfs_subvolume_make_at(parent_fd, d->name);
        if (r < 0 && d->disk_size == 0) {
                log_warning_errno(r,
                                  "Failed to create '%s' as a btrfs subvolume, making a plain directory (no "
                                  "DiskSize= can be set on it later): %m",
                                  d->layout.state_dir);
                return mkdir_state_dir(d);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s' as a btrfs subvolume: %m", d->layout.state_dir);
        fd = openat(parent_fd, d->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open the new subvolume '%s': %m", d->layout.state_dir);
        log_info("VM '%s': created its state directory '%s' as a btrfs subvolume.", d->name, d->layout.state_dir);
        return apply_disk_limit(d, fd, vms);
}

/* The cowvm.conf MinFreeSpace= comes from, for the message. */
static const char *conf_in_use(char *buf, size_t size) {
        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                (void) snprintf(buf, size, "%s/%s", *dir, COWVM_CONF);
                if (access(buf, F_OK) >= 0)
                        return buf;
        }
        (void) snprintf(buf, size, "%s/%s, absent: the built-in default", vm_definition_dirs()[0], COWVM_CONF);
        return buf;
}

static int check_free_space(const VmDefinition *d) {
        char avail[32], reserve[32], conf[PATH_MAX + 64];
        struct statvfs sv;
        uint64_t free_bytes;

        if (d->min_free_space == 0)
                return 0;
        if (statvfs(d->layout.state_dir, &sv) < 0)
                return log_error_errno(errno, "Failed to read the free space of '%s': %m", d->layout.state_dir);
        free_bytes = statvfs_available(sv.f_bavail, sv.f_frsize);
        if (free_bytes >= d->min_free_space)
                return 0;
        return log_error_errno(SYNTHETIC_ERRNO(ENOSPC),
                               "Refusing to start VM '%s': the file system of '%s' has %s free, less than the %s "
                               "kept free for the host (MinFreeSpace= in [VM] of %s). Free some space there, or "
                               "lower MinFreeSpace=.",
                               d->name, d->layout.state_dir, format_size(avail, sizeof avail, free_bytes),
                               format_size(reserve, sizeof reserve, d->min_free_space),
                               conf_in_use(conf, sizeof conf));
}

static int refuse_existing_mount(const VmDefinition *d) {
        _cleanup_(mount_info_done) MountInfo m = {};
        _cleanup_free_ char *upper = NULL;
        int r;

        r = mount_find(d->layout.root_dir, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to read the mount table: %m");
        if (r == 0)
                return 0;

        if (streq(m.fstype, "overlay") && mount_option_get(m.options, "upperdir", &upper) > 0 &&
            streq(upper, d->layout.upper_dir))
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "The root of VM '%s' is still mounted at '%s' from an earlier start. "
                                       "Something kept it busy when the VM stopped; find it with "
                                       "'fuser -vm %s', then 'umount %s'.",
                                       d->name, d->layout.root_dir, d->layout.root_dir, d->layout.root_dir);
        return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                               "Something else is mounted at '%s' (%s from '%s'); refusing to mount the root of VM "
                               "'%s' over it. Unmount it first.",
                               d->layout.root_dir, m.fstype, m.source, d->name);
}

static int start_persistent(const VmDefinition *d, int base_fd) {
        _cleanup_close_ int state_fd = -EBADF, lock_fd = -EBADF;
        bool created = false;
        int r;

        r = prepare_state_dir(d);
        if (r < 0)
                return r;
        r = lock_state_dir(d, &lock_fd);
        if (r < 0)
                return r;
        r = check_free_space(d);
        if (r < 0)
                return r;
        r = make_upper_dirs(d, base_fd, d->layout.state_dir, &created);
        if (r < 0)
                return r;
        r = check_upper_fs(d);
        if (r < 0)
                return r;

        state_fd = open(d->layout.state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (state_fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", d->layout.state_dir);
        r = check_base_unchanged(d, state_fd, base_fd, created && dir_is_empty(state_fd, "upper"));
        if (r < 0)
                return r;

        log_info("VM '%s': %s upper layer '%s' over base '%s'.", d->name, created ? "new" : "existing",
                 d->layout.upper_dir, d->base_dir);
        return 0;
}

static int verb_start(const char *name) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        _cleanup_close_ int base_fd = -EBADF;
        int r;

        r = vm_definition_load(name, &d);
        if (r < 0)
                return r;

        r = check_base(d, &base_fd);
        if (r < 0)
                return r;
        r = check_boot_files(d);
        if (r < 0)
                return r;
        r = refuse_existing_mount(d);
        if (r < 0)
                return r;

        if (!d->ephemeral) {
                r = start_persistent(d, base_fd);
                if (r < 0)
                        return r;
        }
        return unit_limits_apply(d);
}

static int remove_dir_if_empty(const char *path) {
        if (rmdir(path) >= 0 || errno == ENOENT)
                return 0;
        if (errno == ENOTEMPTY || errno == EEXIST)
                log_notice("Leaving '%s' in place: it is not empty.", path);
        else
                log_warning_errno(errno, "Failed to remove '%s': %m", path);
        return -errno;
}

static int umount_ephemeral(const char *name, const char *eph) {
        int r = mount_find(eph, NULL);

        if (r < 0)
                return log_error_errno(r, "Failed to read the mount table: %m");
        if (r == 0)
                return 0;
        if (umount2(eph, 0) < 0) {
                log_warning_errno(errno, "Failed to unmount '%s' (%m), detaching it instead.", eph);
                if (umount2(eph, MNT_DETACH) < 0)
                        return log_error_errno(errno, "Failed to detach '%s': %m", eph);
        }
        log_info("VM '%s': discarded its ephemeral upper layer.", name);
        return 0;
}

/* The VM's paths from its name alone (those of its runtime directory do
 * not depend on Ephemeral=); fails while the root is still mounted: then
 * nothing of it may be touched. */
static int layout_unmounted(const char *name, VmLayout *ret) {
        _cleanup_(vm_layout_done) VmLayout l = {};
        int r;

        if (!vm_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' is not a valid VM name.", name);
        if (vm_layout_make(name, false, &l) < 0)
                return log_oom();

        r = mount_find(l.root_dir, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read the mount table: %m");
        if (r > 0)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "The root of VM '%s' is still mounted at '%s'; leaving it and the VM's "
                                       "runtime directory alone. Find what keeps it busy with 'fuser -vm %s'.",
                                       name, l.root_dir, l.root_dir);
        *ret = l;
        l = (VmLayout) {};
        return 0;
}

/* The unit's "+" commands still get a mount namespace of their own (systemd
 * sets one up for PrivateTmp= and the like even for them): the root must be
 * mounted in PID 1's, where everyone sees it. Run by hand (no
 * $INVOCATION_ID, which systemd gives every process of a unit), it mounts
 * where its caller is, as mount(8) would. */
static int join_pid1_mount_namespace(void) {
        _cleanup_close_ int fd = -EBADF;
        struct stat self, pid1;

        if (!getenv("INVOCATION_ID"))
                return 0;
        if (stat("/proc/self/ns/mnt", &self) < 0 || stat("/proc/1/ns/mnt", &pid1) < 0)
                return log_error_errno(errno, "Failed to find the mount namespace of PID 1: %m");
        if (self.st_ino == pid1.st_ino && self.st_dev == pid1.st_dev)
                return 0;
        fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open the mount namespace of PID 1: %m");
        if (setns(fd, CLONE_NEWNS) < 0)
                return log_error_errno(errno, "Failed to join the mount namespace of PID 1: %m");
        return 0;
}

/* The overlay with the options overlay_mount_options() gives, which are
 * mount(8)'s: mounted the way mount(8) mounts them, through libmount's
 * context, in this process. */
static int mount_overlay_root(const VmDefinition *d) {
        _cleanup_free_ char *options = NULL;
        struct libmnt_context *cxt;
        int r;

        if (overlay_mount_options(d, &options) < 0)
                return log_oom();
        cxt = mnt_new_context();
        if (!cxt)
                return log_oom();
        /* No /etc/fstab lookup and no utab entry: this mount is cowvm's. */
        r = mnt_context_disable_helpers(cxt, true);
        if (r >= 0)
                r = mnt_context_disable_mtab(cxt, true);
        if (r >= 0)
                r = mnt_context_set_fstype(cxt, "overlay");
        if (r >= 0)
                r = mnt_context_set_source(cxt, "overlay");
        if (r >= 0)
                r = mnt_context_set_target(cxt, d->layout.root_dir);
        if (r >= 0)
                r = mnt_context_set_options(cxt, options);
        if (r >= 0)
                r = mnt_context_mount(cxt);
        if (r > 0) /* mount(2) failed with that errno */
                r = -r;
        mnt_free_context(cxt);
        if (r < 0)
                return log_error_errno(r, "Failed to mount the root of VM '%s' at '%s' (overlay %s): %m", d->name,
                                       d->layout.root_dir, options);
        return 0;
}

static int mount_ephemeral_upper(const VmDefinition *d) {
        _cleanup_close_ int base_fd = -EBADF;
        bool created = false;
        int r;

        r = safe_fs_open_root(d->base_dir, &base_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open base '%s' of VM '%s': %m", d->base_dir, d->name);
        r = mount_ephemeral_tmpfs(d, d->layout.ephemeral_dir);
        if (r < 0)
                return r;
        r = make_upper_dirs(d, base_fd, d->layout.ephemeral_dir, &created);
        if (r >= 0)
                r = check_upper_fs(d);
        if (r < 0)
                (void) umount2(d->layout.ephemeral_dir, MNT_DETACH);
        return r;
}

/* /run/cowvm/NAME is root's alone (0700), whoever made it first: below it
 * lies the VM's root, which the hypervisor of another VM, running as a uid
 * of its own, must not reach. The root itself is a mount point of 0755,
 * the mode of the guest's "/" in the overlay over it. */
static int make_runtime_dir(const VmDefinition *d) {
        int r;

        r = mkdir_parents_and(d->layout.runtime_dir, 0700, NULL);
        if (r >= 0 && chmod(d->layout.runtime_dir, 0700) < 0)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", d->layout.runtime_dir);
        r = mkdir_exact(d->layout.root_dir, 0755, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", d->layout.root_dir);
        return 0;
}

static int verb_mount(const char *name) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        int r;

        r = vm_definition_load(name, &d);
        if (r < 0)
                return r;
        r = join_pid1_mount_namespace();
        if (r < 0)
                return r;
        /* start checked this already, but in its own mount namespace. */
        r = refuse_existing_mount(d);
        if (r < 0)
                return r;
        r = make_runtime_dir(d);
        if (r < 0)
                return r;
        if (d->ephemeral) {
                r = mount_ephemeral_upper(d);
                if (r < 0)
                        return r;
        }
        r = mount_overlay_root(d);
        if (r < 0) {
                if (d->ephemeral)
                        (void) umount2(d->layout.ephemeral_dir, MNT_DETACH);
                return r;
        }
        if (d->ephemeral)
                log_info("VM '%s': fresh ephemeral upper layer on tmpfs at '%s' over base '%s'.", d->name,
                         d->layout.ephemeral_dir, d->base_dir);
        return 0;
}

/* Unmounts the root, then the ephemeral tmpfs under it. A root that is busy
 * stays mounted, and so does everything under it: stop then leaves the
 * runtime directory alone, and the next start says what to do. */
static int verb_umount(const char *name) {
        _cleanup_(vm_layout_done) VmLayout l = {};
        int r;

        if (!vm_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' is not a valid VM name.", name);
        if (vm_layout_make(name, false, &l) < 0)
                return log_oom();
        r = join_pid1_mount_namespace();
        if (r < 0)
                return r;
        r = mount_find(l.root_dir, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read the mount table: %m");
        /* EINVAL: unmounted meanwhile, by systemd itself at shutdown
         * (umount.target), which this unit is not ordered against. */
        if (r > 0 && umount2(l.root_dir, 0) < 0 && errno != EINVAL)
                return log_error_errno(errno,
                                       "Failed to unmount the root of VM '%s' at '%s': %m. Find what keeps it "
                                       "busy with 'fuser -vm %s'.",
                                       name, l.root_dir, l.root_dir);
        return umount_ephemeral(name, l.ephemeral_dir);
}

/* Works from the name alone: the definition may be gone or broken by now,
 * and the VM's runtime state must be cleaned up all the same. */
static int verb_stop(const char *name) {
        _cleanup_(vm_layout_done) VmLayout l = {};
        int r;

        r = layout_unmounted(name, &l);
        if (r < 0)
                return r;

        r = umount_ephemeral(name, l.ephemeral_dir);
        if (r < 0)
                return r;

        (void) remove_dir_if_empty(l.ephemeral_dir);
        (void) remove_dir_if_empty(l.root_dir);
        (void) remove_dir_if_empty(l.runtime_dir);
        return 0;
}

/* For cowvm-mkbase, which must not replace or remove a base that VMs were
 * made over: the names of those VMs, one a line. */
static int verb_base_users(const char *base_dir) {
        _cleanup_strv_free_ char **users = NULL;
        int r;

        r = base_record_users(base_dir, &users);
        if (r < 0)
                return log_error_errno(r, "Failed to read the base records of the VMs: %m");
        STRV_FOREACH (u, users)
                printf("%s\n", *u);
        return fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Failed to write to stdout: %m");
}

static int run(int argc, char *argv[]) {
        static const struct {
                const char *verb;
                int (*run)(const char *name);
        } verbs[] = {
                { "start", verb_start },           /* confined */
                { "mount", verb_mount },           /* in PID 1's mount namespace */
                { "umount", verb_umount },         /* in PID 1's mount namespace */
                { "stop", verb_stop },             /* confined */
                { "base-users", verb_base_users }, /* for cowvm-mkbase */
        };

        for (size_t i = 0; argc == 3 && i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].verb))
                        return verbs[i].run(argv[2]);
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Usage: overlay-prepare start|mount|umount|stop NAME, or "
                                                        "overlay-prepare base-users DIR");
}

DEFINE_MAIN_FUNCTION("overlay-prepare", LOG_TARGET_CONSOLE, run);
