/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Users: PasswordHash= into /etc/shadow, SSHAuthorizedKey= into the user's
 * authorized_keys, with home and ids from the guest's /etc/passwd. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject-internal.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"
#include "strv.h"

int inject_password(const InjectContext *c) {
        const VmDefinition *d = c->def;
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        assert(c);
        if (!d->password_hash)
                return 0;
        /* The parser accepts only crypt(3) alphabets; a ':' or newline here
         * would corrupt the file, so check again where it matters. */
        if (strpbrk(d->password_hash, ":\n") || string_has_cc(d->password_hash))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "PasswordHash= of VM '%s' contains ':' or a control character.", d->name);

        r = inject_read_text(c, "/etc/shadow", INJECT_READ_MAX, false, &in, NULL);
        if (r < 0)
                return r;
        r = shadow_rewrite(in, d->user, d->password_hash, &out);
        if (r == -ESRCH)
                return log_error_errno(SYNTHETIC_ERRNO(ESRCH),
                                       "User '%s' (User= of VM '%s') has no line in '/etc/shadow' in the VM root %s; "
                                       "cowvm sets passwords of existing users only.",
                                       d->user, d->name, c->root.path);
        if (r == -EUCLEAN)
                return log_error_errno(SYNTHETIC_ERRNO(EUCLEAN),
                                       "The line of user '%s' in '/etc/shadow' in the VM root %s is malformed.",
                                       d->user, c->root.path);
        if (r < 0)
                return log_oom();
        /* Keep the guest's mode and group (Debian: 0640 root:shadow). */
        return inject_write_rewritten(c, "/etc/shadow", out, INJECT_READ_MAX, true, 0640, c->owner_uid, c->owner_gid,
                                      SAFE_WRITE_KEEP_ATTRS);
}

/* Opens (creating if needed) the user's ~/.ssh, owned by the user, 0700.
 * Returns the guest path of the directory. */
static int prepare_ssh_dir(const InjectContext *c, const PasswdEntry *pw, char **ret_path) {
        _cleanup_close_ int home_fd = -EBADF, ssh_fd = -EBADF;
        _cleanup_free_ char *ssh = path_join(pw->home, ".ssh");
        struct stat st;
        int r;

        if (!ssh)
                return log_oom();

        /* Missing parents of the home are 0755 like /home; a home we had to
         * create is the user's, 0700 (Debian's adduser default). */
        r = safe_mkdir_p_at(c->root.fd, pw->home, 0755, &home_fd);
        if (r < 0)
                return guest_tree_log_error(&c->root, r, "create the home directory", pw->home);
        if (r > 0 && (fchown(home_fd, pw->uid, pw->gid) < 0 || fchmod(home_fd, 0700) < 0))
                return log_error_errno(errno, "Failed to set up the new home '%s' in the VM root %s: %m", pw->home,
                                       c->root.path);

        /* ~/.ssh itself must not be a symlink: we chown it below. */
        ssh_fd = safe_open_at(c->root.fd, ssh, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (ssh_fd == -ENOENT) {
                if (mkdirat(home_fd, ".ssh", 0700) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create '%s' in the VM root %s: %m", ssh,
                                               c->root.path);
                ssh_fd = safe_open_at(c->root.fd, ssh, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        }
        if (ssh_fd == -ELOOP || ssh_fd == -ENOTDIR) {
                /* O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: tell which. */
                if (safe_lstat_at(c->root.fd, ssh, &st) >= 0 && S_ISLNK(st.st_mode))
                        return log_error_errno(SYNTHETIC_ERRNO(ELOOP),
                                               "Refusing '%s' in the VM root %s: it is a symbolic link, and "
                                               "cowvm does not follow links to a directory it must chown.",
                                               ssh, c->root.path);
        }
        if (ssh_fd < 0)
                return guest_tree_log_error(&c->root, ssh_fd, "open", ssh);
        if (fstat(ssh_fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat '%s' in the VM root %s: %m", ssh, c->root.path);
        /* sshd's StrictModes wants it owned by the user and not writable by others. */
        if ((st.st_uid != pw->uid || st.st_gid != pw->gid) && fchown(ssh_fd, pw->uid, pw->gid) < 0)
                return log_error_errno(errno, "Failed to chown '%s' in the VM root %s: %m", ssh, c->root.path);
        if ((st.st_mode & 07777) != 0700 && fchmod(ssh_fd, 0700) < 0)
                return log_error_errno(errno, "Failed to chmod '%s' in the VM root %s: %m", ssh, c->root.path);

        *ret_path = TAKE_PTR(ssh);
        return 0;
}

static int load_passwd_entry(const InjectContext *c, PasswdEntry *ret) {
        _cleanup_free_ char *passwd = NULL;
        int r;

        r = inject_read_text(c, "/etc/passwd", INJECT_READ_MAX, false, &passwd, NULL);
        if (r < 0)
                return r;
        r = passwd_lookup(passwd, c->def->user, ret);
        if (r == -ESRCH)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ESRCH),
                        "User '%s' (User= of VM '%s') does not exist in '/etc/passwd' in the VM root %s; "
                        "cowvm does not create users.",
                        c->def->user, c->def->name, c->root.path);
        if (r == -EUCLEAN)
                return log_error_errno(SYNTHETIC_ERRNO(EUCLEAN),
                                       "The line of user '%s' in '/etc/passwd' in the VM root %s is malformed, or its "
                                       "home directory is not a normalized absolute path; refusing to use it.",
                                       c->def->user, c->root.path);
        return r < 0 ? log_oom() : 0;
}

/* Without SSHAuthorizedKey=: only cleans up after an earlier definition
 * (our block), and never fails the start for a passwd it cannot use. */
static int remove_keys_block(const InjectContext *c) {
        _cleanup_(passwd_entry_done) PasswdEntry pw = {};
        _cleanup_free_ char *passwd = NULL, *file = NULL, *in = NULL, *out = NULL;
        int r;

        if (safe_read_file_at(c->root.fd, "/etc/passwd", INJECT_READ_MAX, &passwd, &(size_t) { 0 }, NULL) < 0 ||
            passwd_lookup(passwd, c->def->user, &pw) < 0)
                return 0;
        file = path_join3(pw.home, ".ssh", "authorized_keys");
        if (!file)
                return log_oom();
        r = inject_read_text(c, file, INJECT_KEYS_READ_MAX, true, &in, NULL);
        if (r <= 0 || !strstr(in, COWVM_KEYS_BEGIN))
                return r < 0 ? r : 0;
        if (authorized_keys_rewrite(in, NULL, &out) < 0)
                return log_oom();
        return inject_write_rewritten(c, file, out, INJECT_KEYS_READ_MAX, true, 0600, pw.uid, pw.gid,
                                      SAFE_WRITE_KEEP_ATTRS);
}

int inject_authorized_keys(const InjectContext *c) {
        _cleanup_(passwd_entry_done) PasswdEntry pw = {};
        _cleanup_free_ char *ssh = NULL, *file = NULL, *in = NULL, *out = NULL;
        int r;

        assert(c);
        if (strv_isempty(c->def->ssh_authorized_keys))
                return remove_keys_block(c);

        r = load_passwd_entry(c, &pw);
        if (r < 0)
                return r;
        r = prepare_ssh_dir(c, &pw, &ssh);
        if (r < 0)
                return r;
        file = path_join(ssh, "authorized_keys");
        if (!file)
                return log_oom();
        r = inject_read_text(c, file, INJECT_KEYS_READ_MAX, true, &in, NULL);
        if (r < 0)
                return r;
        if (authorized_keys_rewrite(in, c->def->ssh_authorized_keys, &out) < 0)
                return log_oom();
        return inject_write_rewritten(c, file, out, INJECT_KEYS_READ_MAX, true, 0600, pw.uid, pw.gid, 0);
}
