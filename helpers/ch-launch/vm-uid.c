/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The hypervisor's per-VM uid; see vm-uid.h for the range and why. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "path-util.h"
#include "vm-uid.h"

/* FNV-1a: stable across builds and hosts, so a VM keeps its uid from one
 * start to the next unless another VM holds it. */
static uint32_t name_hash(const char *name) {
        uint32_t h = 2166136261U;

        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                h = (h ^ *p) * 16777619U;
        return h;
}

uid_t vm_uid_candidate(const char *name, unsigned attempt) {
        return VM_UID_MIN + (uid_t) ((name_hash(name) + attempt) % VM_UID_COUNT);
}

bool vm_uid_known_to_nss(uid_t u) {
        return getpwuid(u) || getgrgid((gid_t) u);
}

static int write_name(int fd, const char *name) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "%s\n", name);

        if (n < 0 || (size_t) n >= sizeof buf)
                return -EINVAL;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) n, 0) != n)
                return -errno ?: -EIO;
        return 0;
}

/* A new lock: made and locked under a temporary name, then linked into
 * place, which fails if the name exists (as O_EXCL would): whoever sees the
 * file sees it locked. */
static int lock_new(int dir_fd, const char *file, const char *name, int *ret_fd) {
        char tmp[64];
        _cleanup_close_ int fd = -EBADF;
        int r;

        (void) snprintf(tmp, sizeof tmp, ".%s.%d", file, (int) getpid());
        fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : write_name(fd, name);
        if (r >= 0 && linkat(dir_fd, tmp, dir_fd, file, 0) < 0)
                r = -errno;
        (void) unlinkat(dir_fd, tmp, 0);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A hypervisor outlives a killed ch-launch for as long as its parent-death
 * signal takes; its /proc directory is its uid's (it is dumpable). */
static bool uid_has_processes(uid_t u) {
        _cleanup_(closedirp) DIR *d = opendir("/proc");
        struct dirent *de;
        struct stat st;

        if (!d)
                return true; /* cannot tell: do not take it over */
        while ((de = readdir(d)))
                if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && st.st_uid == u)
                        return true;
        return false;
}

/* An existing lock whose holder is gone (killed: nothing removed the file)
 * is ours if we get its flock and it is still the file under that name. */
static int lock_stale(int dir_fd, const char *file, uid_t u, const char *name, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat a, b;

        fd = openat(dir_fd, file, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return -errno; /* EWOULDBLOCK: in use */
        if (fstat(fd, &a) < 0 || fstatat(dir_fd, file, &b, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (a.st_ino != b.st_ino || a.st_dev != b.st_dev || !S_ISREG(a.st_mode))
                return -EAGAIN; /* released and removed meanwhile: try again */
        if (uid_has_processes(u))
                return -EWOULDBLOCK;
        if (write_name(fd, name) < 0)
                return -EIO;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int try_uid(int dir_fd, uid_t u, const char *name, int *ret_fd) {
        char file[16];
        int r;

        (void) snprintf(file, sizeof file, "%u", (unsigned) u);
        for (int i = 0; i < 3; i++) {
                r = lock_new(dir_fd, file, name, ret_fd);
                if (r != -EEXIST)
                        return r;
                r = lock_stale(dir_fd, file, u, name, ret_fd);
                if (r != -EAGAIN && r != -ENOENT)
                        return r;
        }
        return -EBUSY;
}

static int acquire_in(const char *dir, const char *name, bool (*taken)(uid_t), VmUid *ret) {
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", dir);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", dir);

        for (unsigned i = 0; i < VM_UID_COUNT; i++) {
                uid_t u = vm_uid_candidate(name, i);
                int fd = -EBADF;

                if ((taken ?: vm_uid_known_to_nss)(u))
                        continue;
                r = try_uid(dir_fd, u, name, &fd);
                if (r == -EWOULDBLOCK || r == -EBUSY)
                        continue;
                if (r == -ENOENT)
                        return r; /* the directory was removed under us */
                if (r < 0)
                        return log_error_errno(r, "Failed to take the lock %s/%u: %m", dir, (unsigned) u);
                if (asprintf(&ret->lock_path, "%s/%u", dir, (unsigned) u) < 0) {
                        safe_close(fd);
                        return log_oom();
                }
                ret->uid = u;
                ret->lock_fd = fd;
                return 0;
        }
        return log_error_errno(-EUSERS, "All %u ids from %u to %u are in use (%s).", VM_UID_COUNT,
                               (unsigned) VM_UID_MIN, (unsigned) VM_UID_MAX, dir);
}

int vm_uid_acquire(const char *dir, const char *name, bool (*taken)(uid_t), VmUid *ret) {
        int r = -ENOENT;

        /* The last VM to stop removes the directory (release below). */
        for (int i = 0; i < 5 && r == -ENOENT; i++)
                r = acquire_in(dir, name, taken, ret);
        if (r == -ENOENT)
                return log_error_errno(r, "Failed to take a lock in %s: %m", dir);
        return r;
}

void vm_uid_release(VmUid *u) {
        /* Unlinked while still locked: a prober that opened it meanwhile sees
         * that it is no longer the file under that name. */
        if (u->lock_path && u->lock_fd >= 0) {
                char *slash = strrchr(u->lock_path, '/');

                (void) unlink(u->lock_path);
                /* Nothing of a stopped VM stays in /run/cowvm: the directory
                 * goes with the last lock (rmdir fails while others are in it). */
                if (slash && slash != u->lock_path) {
                        *slash = '\0';
                        (void) rmdir(u->lock_path);
                }
        }
        u->lock_fd = safe_close(u->lock_fd);
        u->lock_path = mfree(u->lock_path);
        u->uid = (uid_t) -1;
}
