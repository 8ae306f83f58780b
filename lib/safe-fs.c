/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "safe-fs.h"

#if HAVE_OPENAT2
#include <linux/openat2.h>
#else
struct open_how {
        uint64_t flags;
        uint64_t mode;
        uint64_t resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

#include "macro.h"

#define RESOLVE_ROOT_FLAGS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
/* For one component below an fd we already hold: no symlink at all. */
#define RESOLVE_CHILD_FLAGS (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* openat2() retries: the kernel returns -EAGAIN for RESOLVE_IN_ROOT when a
 * rename elsewhere raced with a ".." lookup; it cannot tell whether the walk
 * stayed inside, so it asks us to try again. */
#define OPENAT2_ATTEMPTS 32

static int openat2_fd(int dir_fd, const char *path, int flags, mode_t mode, uint64_t resolve) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                /* openat2() insists on mode 0 unless a file may be created. */
                .mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0,
                .resolve = resolve,
        };

        for (unsigned attempt = 0;; attempt++) {
                long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                if (errno == EAGAIN && attempt < OPENAT2_ATTEMPTS)
                        continue;
                return -errno;
        }
}

/* "/etc//ssh/" -> "etc/ssh"; "" or "/" -> ""; refuses "..", which
 * RESOLVE_IN_ROOT would contain but which no caller has a reason to use. */
static int normalize(const char *path, char **ret) {
        char *s = malloc(strlen(path) + 1), *o = s;

        if (!s)
                return -ENOMEM;
        for (const char *p = path; *p;) {
                size_t n;

                p += strspn(p, "/");
                n = strcspn(p, "/");
                if (n == 0)
                        break;
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        free(s);
                        return -EINVAL;
                }
                if (!(n == 1 && p[0] == '.')) {
                        if (o != s)
                                *o++ = '/';
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
        }
        *o = '\0';
        *ret = s;
        return 0;
}

static const char *dot_if_empty(const char *s) {
        return *s ? s : ".";
}

int safe_fs_open_root(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF, probe = -EBADF;

        fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* Probe once here, so that a kernel without openat2() (< 5.6) fails
         * before anything was touched. There is no safe fallback: resolving
         * the guest's symlinks in userspace races with the guest. */
        probe = openat2_fd(fd, ".", O_PATH | O_DIRECTORY, 0, RESOLVE_ROOT_FLAGS);
        if (probe < 0)
                return probe;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int safe_open_at(int root_fd, const char *path, int flags, mode_t mode) {
        _cleanup_free_ char *rel = NULL;
        int r;

        r = normalize(path, &rel);
        if (r < 0)
                return r;
        return openat2_fd(root_fd, dot_if_empty(rel), flags, mode, RESOLVE_ROOT_FLAGS);
}

int safe_open_parent_at(int root_fd, const char *path, int *ret_dir_fd, char **ret_name) {
        _cleanup_free_ char *rel = NULL, *name = NULL;
        char *slash;
        int fd, r;

        r = normalize(path, &rel);
        if (r < 0)
                return r;
        if (!*rel)
                return -EINVAL; /* the root has no parent here */

        slash = strrchr(rel, '/');
        name = strdup(slash ? slash + 1 : rel);
        if (!name)
                return -ENOMEM;
        if (slash)
                *slash = '\0';
        fd = openat2_fd(root_fd, slash ? rel : ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_ROOT_FLAGS);
        if (fd < 0)
                return fd;

        *ret_dir_fd = fd;
        *ret_name = TAKE_PTR(name);
        return 0;
}

int safe_mkdir_p_at(int root_fd, const char *path, mode_t mode, int *ret_fd) {
        _cleanup_free_ char *rel = NULL;
        _cleanup_close_ int cur = -EBADF;
        bool created = false;
        int r;

        r = normalize(path, &rel);
        if (r < 0)
                return r;

        cur = openat2_fd(root_fd, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_ROOT_FLAGS);
        if (cur < 0)
                return cur;

        /* Walk "etc", "etc/ssh", ...: each prefix is resolved from the root
         * again, so a symlink in the middle is followed as the guest sees it
         * (e.g. Debian's /lib -> usr/lib), and a missing component is created
         * in the directory we hold an fd to, not at a path. */
        for (char *end = rel; *rel;) {
                _cleanup_close_ int next = -EBADF;
                char *comp = end == rel ? rel : end + 1;
                char saved;

                end = comp + strcspn(comp, "/");
                saved = *end;
                *end = '\0';

                created = false;
                next = openat2_fd(root_fd, rel, O_RDONLY | O_DIRECTORY, 0, RESOLVE_ROOT_FLAGS);
                if (next == -ENOENT) {
                        if (mkdirat(cur, comp, mode) < 0) {
                                if (errno != EEXIST)
                                        return -errno;
                        } else
                                created = true;
                        next = openat2_fd(root_fd, rel, O_RDONLY | O_DIRECTORY, 0, RESOLVE_ROOT_FLAGS);
                        /* EEXIST, then ENOENT: a dangling symlink is in the way. */
                        if (next == -ENOENT)
                                return -ELOOP;
                }
                if (next < 0)
                        return next;
                /* mkdirat() applied the umask; set what was asked for. */
                if (created && fchmod(next, mode) < 0)
                        return -errno;

                safe_close(cur);
                cur = TAKE_FD(next);
                *end = saved;
                if (!saved)
                        break;
        }

        if (ret_fd)
                *ret_fd = TAKE_FD(cur);
        return created;
}

int safe_lstat_at(int root_fd, const char *path, struct stat *ret) {
        _cleanup_close_ int fd = -EBADF;

        fd = safe_open_at(root_fd, path, O_PATH | O_NOFOLLOW, 0);
        if (fd < 0)
                return fd;
        return fstat(fd, ret) < 0 ? -errno : 0;
}

int safe_exists_at(int root_fd, const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = safe_open_at(root_fd, path, O_PATH, 0);
        if (fd == -ENOENT)
                return 0;
        return fd < 0 ? fd : 1;
}

static int check_regular(const struct stat *st) {
        if (S_ISLNK(st->st_mode))
                return -ELOOP;
        if (S_ISDIR(st->st_mode))
                return -EISDIR;
        if (!S_ISREG(st->st_mode))
                return -EBADFD;
        return 0;
}

/* Opens `path_fd` (an O_PATH fd of a verified regular file) for reading.
 * Through /proc/self/fd the kernel reopens that very inode, so nothing
 * swapped in after the check (a FIFO, a device) can be opened. Without /proc
 * it opens the name again and checks that it got the same inode. */
static int reopen_regular(int path_fd, int dir_fd, const char *name, const struct stat *st) {
        char proc[64];
        struct stat st2;
        int fd;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%i", path_fd);
        fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                fd = openat2_fd(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW, 0, RESOLVE_CHILD_FLAGS);
        else if (fd < 0)
                fd = -errno;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st2) < 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino || !S_ISREG(st2.st_mode)) {
                safe_close(fd);
                return -EBADFD;
        }
        return fd;
}

static int read_fd_capped(int fd, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        for (;;) {
                ssize_t n;

                if (alloc - size < 2) {
                        size_t want = alloc ? alloc * 2 : 4096;
                        char *p;

                        if (want > max_size + 2)
                                want = max_size + 2;
                        p = realloc(buf, want);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = want;
                }
                n = read(fd, buf + size, alloc - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                /* The file may have grown since fstat(): the cap holds anyway. */
                if (size > max_size)
                        return -EFBIG;
        }
        buf[size] = '\0';
        *ret_data = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* Opens the regular file `name` in `dir_fd` for reading, never following it. */
static int open_regular_child(int dir_fd, const char *name, size_t max_size, struct stat *ret_st) {
        _cleanup_close_ int path_fd = -EBADF;
        struct stat st;
        int r;

        path_fd = openat2_fd(dir_fd, name, O_PATH | O_NOFOLLOW, 0, RESOLVE_CHILD_FLAGS);
        if (path_fd < 0)
                return path_fd;
        if (fstat(path_fd, &st) < 0)
                return -errno;
        r = check_regular(&st);
        if (r < 0)
                return r;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;
        r = reopen_regular(path_fd, dir_fd, name, &st);
        if (r >= 0 && ret_st)
                *ret_st = st;
        return r;
}

int safe_read_file_at(int root_fd, const char *path, size_t max_size, char **ret_data, size_t *ret_size,
                      struct stat *ret_st) {
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *name = NULL;
        struct stat st;
        int r;

        r = safe_open_parent_at(root_fd, path, &dir_fd, &name);
        if (r < 0)
                return r;
        fd = open_regular_child(dir_fd, name, max_size, &st);
        if (fd < 0)
                return fd;
        r = read_fd_capped(fd, max_size, ret_data, ret_size);
        if (r < 0)
                return r;
        if (ret_st)
                *ret_st = st;
        return 0;
}

static int random_name(char ret[static 32]) {
        uint64_t v;

        if (getrandom(&v, sizeof(v), 0) != (ssize_t) sizeof(v))
                return -errno;
        /* A dot file with cowvm's name in it: recognizable if a crash leaves one. */
        snprintf(ret, 32, ".#cowvm.%016" PRIx64, v);
        return 0;
}

static bool same_content(int dir_fd, const char *name, const struct stat *st, const void *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *old = NULL;
        size_t old_size;

        if ((uint64_t) st->st_size != size)
                return false;
        fd = open_regular_child(dir_fd, name, size, NULL);
        if (fd < 0)
                return false;
        if (read_fd_capped(fd, size, &old, &old_size) < 0)
                return false;
        return old_size == size && memcmp(old, data, size) == 0;
}

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* What to write over an existing entry, or 0 when it already holds exactly
 * this: 1 to write a new file, 2 to replace one, a negative errno to refuse. */
static int existing_entry(int dir_fd, const char *name, const void *data, size_t size, mode_t *mode, uid_t *uid,
                          gid_t *gid, SafeWriteFlags flags) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 1 : -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return 2;
        /* Not from a file with other links: the guest may have hard-linked
         * some other file here to have us copy its owner and mode. And never
         * set-id bits. */
        if ((flags & SAFE_WRITE_KEEP_ATTRS) && st.st_nlink == 1) {
                *mode = st.st_mode & 0777;
                *uid = st.st_uid;
                *gid = st.st_gid;
        }
        /* Unchanged: leave it, and leave an overlay's lower file where it is
         * instead of copying it up. A second link is never left alone: it may
         * be the guest's trap. */
        if (st.st_nlink == 1 && (st.st_mode & 07777) == (*mode & 07777) && st.st_uid == *uid && st.st_gid == *gid &&
            same_content(dir_fd, name, &st, data, size))
                return 0;
        return 2;
}

/* A new file with a random name in dir_fd, never one that was there. */
static int create_temporary(int dir_fd, char tmp[static 32]) {
        for (unsigned attempt = 0;; attempt++) {
                int fd, r;

                r = random_name(tmp);
                if (r < 0)
                        return r;
                fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST || attempt >= 16)
                        return -errno;
        }
}

/* Between safe_fs_sync_begin() and safe_fs_sync_end(): the directories
 * written into, each once, to be fsync'ed at the end. Not syncfs(): that
 * would wait for every dirty page of the file system, other VMs' disks
 * included. */
#define SYNC_DIRS_MAX 64
static bool sync_batched = false;
static int sync_dirs[SYNC_DIRS_MAX];
static size_t n_sync_dirs = 0;

void safe_fs_sync_begin(void) {
        sync_batched = true;
}

int safe_fs_sync_end(void) {
        int r = 0;

        for (size_t i = 0; i < n_sync_dirs; i++) {
                if (fsync(sync_dirs[i]) < 0 && r == 0)
                        r = -errno;
                safe_close(sync_dirs[i]);
        }
        n_sync_dirs = 0;
        sync_batched = false;
        return r;
}

static bool same_inode(int a, int b) {
        struct stat sa, sb;

        return fstat(a, &sa) >= 0 && fstat(b, &sb) >= 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Now, or once at safe_fs_sync_end(). */
static int sync_dir(int dir_fd) {
        int fd;

        if (!sync_batched || n_sync_dirs >= SYNC_DIRS_MAX)
                return fsync(dir_fd) < 0 ? -errno : 0;
        for (size_t i = 0; i < n_sync_dirs; i++)
                if (same_inode(sync_dirs[i], dir_fd))
                        return 0;
        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        sync_dirs[n_sync_dirs++] = fd;
        return 0;
}

static int fill_temporary(int fd, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid, bool replaces) {
        struct stat st;
        int r;

        r = write_all(fd, data, size);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* chown first: it would clear set-id bits set by a chmod before it. */
        if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
                return -errno;
        if (fchmod(fd, mode & 07777) < 0)
                return -errno;
        /* Before the rename, whatever is batched: a crash must leave the
         * old content or the new one, never an empty file in its place. */
        if ((replaces || !sync_batched) && fsync(fd) < 0)
                return -errno;
        return 0;
}

int safe_write_file_atomic_at(int root_fd, const char *path, const void *data, size_t size, mode_t mode, uid_t uid,
                              gid_t gid, SafeWriteFlags flags) {
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *name = NULL;
        bool replaces;
        char tmp[32];
        int r;

        r = safe_open_parent_at(root_fd, path, &dir_fd, &name);
        if (r < 0)
                return r;
        r = existing_entry(dir_fd, name, data, size, &mode, &uid, &gid, flags);
        if (r <= 0)
                return r;
        replaces = r == 2;

        fd = create_temporary(dir_fd, tmp);
        if (fd < 0)
                return fd;
        r = fill_temporary(fd, data, size, mode, uid, gid, replaces);
        /* rename() replaces the directory entry: a symlink or hard link that
         * was there is unlinked, the file it pointed to is not touched. */
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        r = sync_dir(dir_fd);
        return r < 0 ? r : 1;
}

int safe_symlink_atomic_at(int root_fd, const char *target, const char *path) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *name = NULL;
        char tmp[32];
        struct stat st;
        int r;

        r = safe_open_parent_at(root_fd, path, &dir_fd, &name);
        if (r < 0)
                return r;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                if (S_ISLNK(st.st_mode) && (size_t) st.st_size == strlen(target)) {
                        _cleanup_free_ char *buf = malloc(strlen(target) + 2);
                        ssize_t n;

                        if (!buf)
                                return -ENOMEM;
                        n = readlinkat(dir_fd, name, buf, strlen(target) + 1);
                        if (n >= 0 && (size_t) n == strlen(target) && memcmp(buf, target, (size_t) n) == 0)
                                return 0;
                }
        } else if (errno != ENOENT)
                return -errno;

        for (unsigned attempt = 0;; attempt++) {
                r = random_name(tmp);
                if (r < 0)
                        return r;
                if (symlinkat(target, dir_fd, tmp) >= 0)
                        break;
                if (errno != EEXIST || attempt >= 16)
                        return -errno;
        }
        if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
                r = -errno;
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        r = sync_dir(dir_fd);
        return r < 0 ? r : 1;
}

int safe_unlink_at(int root_fd, const char *path) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *name = NULL;
        int r;

        r = safe_open_parent_at(root_fd, path, &dir_fd, &name);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (unlinkat(dir_fd, name, 0) < 0) {
                if (errno == ENOENT)
                        return 0;
                /* POSIX allows EPERM for a directory; Linux says EISDIR. */
                return -errno;
        }
        r = sync_dir(dir_fd);
        return r < 0 ? r : 1;
}

const char *safe_fs_error_explain(int error) {
        switch (abs(error)) {
        case ENOSYS:
                return "the kernel lacks openat2() (Linux >= 5.6 is required to write safely into a guest's tree)";
        case ELOOP:
                return "a symbolic link is in the way (or a symlink loop), and it is not followed";
        case EXDEV:
                return "the path crosses a mount point or leads out of the VM root";
        case EISDIR:
                return "it is a directory";
        case ENOTDIR:
                return "a component of the path is not a directory";
        case EBADFD:
                return "it is not a regular file (a FIFO, socket or device node)";
        case EFBIG:
                return "it is larger than cowvm will read";
        default:
                return NULL;
        }
}
