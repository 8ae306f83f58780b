/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Editing files in a tree someone else controls: a VM's root, which its guest
 * has written to (config-inject), or a base being made from an image or a
 * tree handed to us (mkbase-fixup). Every access is a safe-fs.h call below
 * the tree's root fd, so paths resolve inside the tree as the guest will
 * resolve them and a symlink as the last component is replaced, never
 * written through. Unlike safe-fs, these log: each failure once, naming the
 * file as the guest sees it ("/etc/fstab") and the tree it lies in ("in the
 * VM root /run/cowvm/web/root"), and return < 0.
 */

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "safe-fs.h"

/* Largest text file read back (/etc/shadow, /etc/fstab, ...): a guest can
 * plant a sparse 10 GiB file, and we must not try to hold it. */
#define GUEST_TEXT_MAX (16U * 1024U * 1024U)

typedef struct GuestTree {
        int fd;            /* the tree's root, from safe_fs_open_root() */
        const char *path;  /* where it is on the host */
        const char *label; /* what it is: "the VM root", "the base tree" */
} GuestTree;

/* Logs that `verb` ("write", "remove") failed on `path` with `error` and
 * returns -abs(error). */
int guest_tree_log_error(const GuestTree *t, int error, const char *verb, const char *path);

typedef enum GuestReadFlags {
        GUEST_READ_MISSING_OK = 1 << 0, /* a missing file reads as NULL */
        GUEST_READ_LINK_OK = 1 << 1,    /* so does a symlink: the caller replaces it */
} GuestReadFlags;

/* Reads a text file of at most `max` bytes with no NUL byte in it (every
 * edit works on C strings: a NUL would cut the file short, and the shortened
 * file would be written back). Returns 1 and the text, 0 and NULL where
 * `flags` allow, or logs and returns < 0. `ret_st` may be NULL. */
int guest_tree_read_text(const GuestTree *t, const char *path, size_t max, GuestReadFlags flags, char **ret,
                         struct stat *ret_st);

/* Creates the missing directories above `path` (0755). */
int guest_tree_make_parent(const GuestTree *t, const char *path);

/* safe_write_file_atomic_at() after making the parent directories; warns
 * when it replaces a symlink. Writes nothing if the file is already so. */
int guest_tree_write(const GuestTree *t, const char *path, const void *data, size_t size, mode_t mode, uid_t uid,
                     gid_t gid, SafeWriteFlags flags);
static inline int guest_tree_write_text(const GuestTree *t, const char *path, const char *text, mode_t mode, uid_t uid,
                                        gid_t gid, SafeWriteFlags flags) {
        return guest_tree_write(t, path, text, strlen(text), mode, uid, gid, flags);
}

/* Makes `path` a symlink to `target` (a guest path, written as is). */
int guest_tree_symlink(const GuestTree *t, const char *target, const char *path);

/* Removes the file or symlink `path` if it is there, saying `why` if it was. */
int guest_tree_remove(const GuestTree *t, const char *path, const char *why);

/* Whether `path` exists, following symlinks inside the tree. A lookup that
 * fails for another reason (a symlink loop planted there, say) counts as
 * absent: whatever needs the file then reports it. */
bool guest_tree_exists(const GuestTree *t, const char *path);

/* The names in directory `dir` that start with `prefix`, in no order;
 * none (and 0) if `dir` does not exist. */
int guest_tree_list(const GuestTree *t, const char *dir, const char *prefix, char ***ret);
