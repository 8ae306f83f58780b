/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * File access inside a tree that someone else controls: a VM's root, which
 * the guest has written to while it ran. The host opens the root once and
 * resolves every path relative to that fd with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so a symlink the guest planted
 * ("/etc -> /", "../../..", "/proc/self/root/...") is resolved as the guest
 * would see it, inside the root, and a path can neither leave the root's
 * mount nor pass through a magic link. The last component of a path is never
 * followed: readers refuse a symlink there, writers replace it.
 *
 * Paths are relative to the root ("etc/hostname"); a leading '/' is ignored,
 * ".." components are refused (-EINVAL). All fds are O_CLOEXEC.
 *
 * Nothing here logs. Errors are negative errnos with these meanings beyond
 * the usual ones:
 *   -ENOSYS   the kernel has no openat2() (< 5.6): there is no safe fallback
 *   -ELOOP    a symlink where none may be, or a symlink loop
 *   -EXDEV    the path crosses a mount point, or tried to leave the root
 *   -EISDIR   a directory where a file must be
 *   -ENOTDIR  a path component is not a directory
 *   -EBADFD   not a regular file (a FIFO, socket or device node)
 *   -EFBIG    the file is larger than the caller's limit
 * safe_fs_error_explain() turns these into words for a log message.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Opens a trusted host path as the root of an untrusted tree (O_PATH |
 * O_DIRECTORY) and checks that openat2() works; -ENOSYS if it does not. */
int safe_fs_open_root(const char *path, int *ret_fd);

/* openat2() below `root_fd` with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV (and O_CLOEXEC added to `flags`). Pass O_NOFOLLOW to refuse
 * (O_PATH: to get) a symlink as the last component. Returns an fd or < 0. */
int safe_open_at(int root_fd, const char *path, int flags, mode_t mode);

/* Opens the directory holding `path` (O_RDONLY | O_DIRECTORY, so it can be
 * fsync'ed) and returns the last component in `ret_name`. The directory must
 * exist. */
int safe_open_parent_at(int root_fd, const char *path, int *ret_dir_fd, char **ret_name);

/* Creates `path` and its missing parents one component at a time with
 * `mode` (root-owned), refusing a component that is not a directory. Symlinks
 * along the way are followed inside the root. Returns 0 or 1 (the last
 * component was created); `ret_fd` (may be NULL) gets an O_RDONLY directory
 * fd of it. */
int safe_mkdir_p_at(int root_fd, const char *path, mode_t mode, int *ret_fd);

/* The file itself, not followed: like fstatat(AT_SYMLINK_NOFOLLOW). */
int safe_lstat_at(int root_fd, const char *path, struct stat *ret);
/* 1 if `path` exists (following symlinks inside the root), 0 if not. */
int safe_exists_at(int root_fd, const char *path);

/* Reads a regular file of at most `max_size` bytes: the last component is not
 * followed (-ELOOP), a FIFO, socket or device is refused (-EBADFD) without
 * being opened for reading, so nothing blocks and no device sees an open().
 * The buffer is NUL-terminated (not counted in *ret_size). `ret_st` may be
 * NULL. */
int safe_read_file_at(int root_fd, const char *path, size_t max_size, char **ret_data, size_t *ret_size,
                      struct stat *ret_st);

typedef enum SafeWriteFlags {
        /* Take mode (without set-id and sticky bits), owner and group from
         * the file being replaced, if it is a regular file with a single link;
         * `mode`, `uid` and `gid` are used otherwise. */
        SAFE_WRITE_KEEP_ATTRS = 1 << 0,
} SafeWriteFlags;

/* Replaces `path` atomically: a new file with a random name in the same
 * directory (O_CREAT | O_EXCL), written, chown'ed, chmod'ed and fsync'ed, then
 * renamed over `path` and the directory fsync'ed. A crash leaves the old file
 * or the new one. A symlink or a hard link at `path` is replaced, never written
 * through; a directory there is -EISDIR. If the file already has exactly this
 * content, mode and owner (and a single link) nothing is written: returns 0,
 * else 1. The parent directory must exist. */
int safe_write_file_atomic_at(int root_fd, const char *path, const void *data, size_t size, mode_t mode, uid_t uid,
                              gid_t gid, SafeWriteFlags flags);

/* Makes `path` a symlink to `target` (a guest path, never resolved here),
 * replacing a file or symlink there atomically; -EISDIR for a directory.
 * Returns 0 if it already was that symlink, 1 if written. */
int safe_symlink_atomic_at(int root_fd, const char *target, const char *path);

/* Removes the file or symlink `path`; -EISDIR for a directory. Returns 1 if
 * removed, 0 if it did not exist (nor its directory). */
int safe_unlink_at(int root_fd, const char *path);

/* Batched syncs, for a run of the writers above: until safe_fs_sync_end(),
 * each directory written into is fsync'ed once, at the end, and a new file
 * not at all (a crash leaves it missing or empty; the next run writes it
 * again); a file that replaces another still is, before its rename, so that
 * a crash leaves the old content or the new. */
void safe_fs_sync_begin(void);
int safe_fs_sync_end(void);

/* Words for the errors above ("it is a directory"), NULL for others. */
const char *safe_fs_error_explain(int error);
