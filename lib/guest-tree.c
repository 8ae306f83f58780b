/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "guest-tree.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

int guest_tree_log_error(const GuestTree *t, int error, const char *verb, const char *path) {
        const char *why = safe_fs_error_explain(-ERRNO_VALUE(error));

        assert(t && verb && path);
        if (why)
                return log_error_errno(error, "Failed to %s '%s' in %s %s: %s.", verb, path, t->label, t->path, why);
        return log_error_errno(error, "Failed to %s '%s' in %s %s: %m", verb, path, t->label, t->path);
}

int guest_tree_read_text(const GuestTree *t, const char *path, size_t max, GuestReadFlags flags, char **ret,
                         struct stat *ret_st) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        assert(t && path && ret);
        r = safe_read_file_at(t->fd, path, max, &data, &size, ret_st);
        if ((r == -ENOENT && (flags & GUEST_READ_MISSING_OK)) || (r == -ELOOP && (flags & GUEST_READ_LINK_OK))) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return guest_tree_log_error(t, r, "read", path);
        if (memchr(data, '\0', size))
                return log_error_errno(SYNTHETIC_ERRNO(EBADMSG),
                                       "Refusing to edit '%s' in %s %s: it contains a NUL byte.", path, t->label,
                                       t->path);
        *ret = TAKE_PTR(data);
        return 1;
}

int guest_tree_make_parent(const GuestTree *t, const char *path) {
        _cleanup_free_ char *dir = NULL;
        char *slash;
        int r;

        assert(t && path);
        dir = strdup(path);
        if (!dir)
                return log_oom();
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        r = safe_mkdir_p_at(t->fd, dir, 0755, NULL);
        if (r < 0)
                return guest_tree_log_error(t, r, "create the directory", dir);
        return 0;
}

static void warn_if_symlink(const GuestTree *t, const char *path) {
        struct stat st;

        if (safe_lstat_at(t->fd, path, &st) >= 0 && S_ISLNK(st.st_mode))
                log_warning("'%s' in %s %s is a symbolic link; replacing the link itself with a regular file.", path,
                            t->label, t->path);
}

int guest_tree_write(const GuestTree *t, const char *path, const void *data, size_t size, mode_t mode, uid_t uid,
                     gid_t gid, SafeWriteFlags flags) {
        int r;

        assert(t && path && (data || size == 0));
        r = guest_tree_make_parent(t, path);
        if (r < 0)
                return r;
        warn_if_symlink(t, path);
        r = safe_write_file_atomic_at(t->fd, path, data, size, mode, uid, gid, flags);
        if (r < 0)
                return guest_tree_log_error(t, r, "write", path);
        if (r > 0)
                log_debug("Wrote '%s' in %s.", path, t->path);
        return 0;
}

int guest_tree_symlink(const GuestTree *t, const char *target, const char *path) {
        int r;

        assert(t && target && path);
        r = guest_tree_make_parent(t, path);
        if (r < 0)
                return r;
        r = safe_symlink_atomic_at(t->fd, target, path);
        if (r < 0)
                return guest_tree_log_error(t, r, "create the symlink", path);
        return 0;
}

int guest_tree_remove(const GuestTree *t, const char *path, const char *why) {
        int r;

        assert(t && path && why);
        r = safe_unlink_at(t->fd, path);
        if (r < 0)
                return guest_tree_log_error(t, r, "remove", path);
        if (r > 0)
                log_info("Removed '%s' in %s: %s", path, t->path, why);
        return 0;
}

bool guest_tree_exists(const GuestTree *t, const char *path) {
        int r;

        assert(t && path);
        r = safe_exists_at(t->fd, path);
        if (r < 0)
                log_debug_errno(r, "Failed to look up '%s' in %s, assuming it is absent: %m", path, t->path);
        return r > 0;
}

int guest_tree_list(const GuestTree *t, const char *dir, const char *prefix, char ***ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;

        assert(t && dir && prefix && ret);
        fd = safe_open_at(t->fd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (fd < 0)
                return guest_tree_log_error(t, fd, "open", dir);
        d = fdopendir(fd);
        if (!d)
                return guest_tree_log_error(t, errno, "read the directory", dir);
        TAKE_FD(fd);

        while ((de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && strv_extend(&names, de->d_name) < 0)
                        return log_oom();
        *ret = TAKE_PTR(names);
        return 0;
}
