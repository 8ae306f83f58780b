/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * mkbase-fixup ROOT VERB [ARGS...]: the file edits cowvm-mkbase makes inside a
 * base it is building.
 *
 * cowvm-mkbase is a shell script (it mostly runs debootstrap, qemu-img,
 * sfdisk, fuse2fs and tar), but the trees it edits come from outside: a
 * cloud image or a tree someone handed us may hold "etc -> /etc" or
 * "etc/fstab -> /etc/shadow". A shell redirection into such a tree writes to
 * the host. So every edit goes through here, where paths are resolved with
 * openat2(RESOLVE_IN_ROOT) exactly as the guest will resolve them, and a
 * symlink as the last component is replaced, never written through: the
 * guest-tree layer config-inject uses too (lib/guest-tree.h), with its text
 * edits and shared files (guest-text.h, guest-files.h).
 *
 * Verbs:
 *   fixup [--hostname=NAME]   the standard edits (see verb_fixup() below)
 *   install SRC DEST MODE     copy the host file SRC to DEST in the tree
 *   symlink TARGET DEST       make DEST a symlink to TARGET (a guest path)
 *   append-lines PATH LINE... add each LINE not yet in PATH (created if absent)
 *   resolve PATH              print where PATH, resolved inside the tree, is
 *                             on the host (so the script may read it)
 *   write-id ID               write ID to /etc/cowvm-base-id
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest-files.h"
#include "guest-text.h"
#include "guest-tree.h"
#include "log.h"
#include "main-func.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"
#include "safe-fs.h"

#define INSTALL_MAX (1024U * 1024U * 1024U)

/* Files of the base are root's, whoever owned them in an image. */
static int write_file(const GuestTree *t, const char *path, const void *data, size_t size, mode_t mode) {
        return guest_tree_write(t, path, data, size, mode, 0, 0, 0);
}

/* ---- the standard edits -------------------------------------------------- */

/* Block devices the VM does not have would make systemd wait 90 s for each;
 * the root is the virtio-fs share. config-inject's very edit (guest-text.h),
 * so that a VM's first start changes nothing more here. A symlink (to the
 * host's /etc/fstab, say) is not read, but replaced by a file. */
static int fix_fstab(const GuestTree *t) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        r = guest_tree_read_text(t, "/etc/fstab", GUEST_TEXT_MAX, GUEST_READ_MISSING_OK | GUEST_READ_LINK_OK, &in,
                                 NULL);
        if (r < 0)
                return r;
        if (fstab_rewrite(in, &out) < 0)
                return log_oom();
        return write_file(t, "/etc/fstab", out, strlen(out), 0644);
}

/* An empty machine-id, not "uninitialized": systemd then makes up a new id at
 * every boot of the bare base (and config-inject gives each VM its own), but
 * does not consider the boot a "first boot", which would run
 * systemd-firstboot (prompting on the console) and apply presets over what
 * the base enabled. Anything that copies the id elsewhere goes too. */
static int fix_identity(const GuestTree *t, const char *hostname) {
        struct stat st;
        int r;

        r = write_file(t, "/etc/machine-id", "", 0, 0444);
        if (r < 0)
                return r;
        if (safe_lstat_at(t->fd, "/var/lib/dbus/machine-id", &st) >= 0 && !S_ISLNK(st.st_mode)) {
                r = guest_tree_symlink(t, "/etc/machine-id", "/var/lib/dbus/machine-id");
                if (r < 0)
                        return r;
        }
        r = guest_tree_remove(t, "/var/lib/systemd/random-seed", "VMs must not start from one shared seed.");
        if (r < 0)
                return r;
        r = guest_tree_remove(t, "/var/lib/systemd/credential.secret", "it is a per-machine secret.");
        if (r < 0)
                return r;

        if (hostname) {
                _cleanup_free_ char *s = NULL;

                if (asprintf(&s, "%s\n", hostname) < 0)
                        return log_oom();
                r = write_file(t, "/etc/hostname", s, strlen(s), 0644);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* sshd would look for an RSA key too and log its absence at every start. */
static const char sshd_hostkeys[] = "# Installed by cowvm-mkbase(8): the host keys " GUEST_KEYGEN_UNIT " makes.\n"
                                    "HostKey /etc/ssh/ssh_host_ed25519_key\n"
                                    "HostKey /etc/ssh/ssh_host_ecdsa_key\n";

/* Where the tree's systemd keeps its units: /lib/systemd/system on Debian 12
 * (a symlink into /usr on merged-/usr trees, resolved in the tree). */
static const char *unit_dir(const GuestTree *t) {
        if (guest_tree_exists(t, "/lib/systemd/system/systemd-journald.service"))
                return "/lib/systemd/system";
        if (guest_tree_exists(t, "/usr/lib/systemd/system/systemd-journald.service"))
                return "/usr/lib/systemd/system";
        return NULL;
}

static int remove_host_key(const GuestTree *t, const char *path, void *userdata) {
        return guest_tree_remove(t, path, "every VM generates its own host keys.");
}

/* The keygen unit is config-inject's (guest-files.h), so that a VM's start
 * finds it as it would write it and leaves the base's in place. */
static int fix_ssh(const GuestTree *t, const char *units) {
        int r;

        r = guest_files_foreach_host_key(t, remove_host_key, NULL);
        if (r < 0)
                return r;
        if (!guest_tree_exists(t, "/usr/sbin/sshd"))
                return 0;
        if (!units) {
                log_notice("%s has sshd but no systemd: its init must run 'ssh-keygen -A' before sshd.", t->path);
                return 0;
        }
        r = guest_files_install_keygen_unit(t, 0, 0, 0);
        if (r < 0)
                return r;
        if (!guest_tree_exists(t, "/etc/ssh/sshd_config.d"))
                return 0;
        return write_file(t, "/etc/ssh/sshd_config.d/cowvm-hostkeys.conf", sshd_hostkeys, strlen(sshd_hostkeys), 0644);
}

/* systemd-getty-generator already starts a getty on the console named by the
 * last console= (ttyS0 with cowvm's kernel command line); enabling it here
 * keeps the login prompt on the serial console when KernelCommandLine= adds
 * another console= after it. Both pull in the same unit. */
static int fix_getty(const GuestTree *t, const char *units) {
        _cleanup_free_ char *tmpl = NULL;

        if (!units)
                return 0;
        tmpl = path_join(units, "serial-getty@.service");
        if (!tmpl)
                return log_oom();
        if (!guest_tree_exists(t, tmpl))
                return 0;
        return guest_tree_symlink(t, tmpl, GUEST_UNIT_DIR "/getty.target.wants/serial-getty@ttyS0.service");
}

static int verb_fixup(const GuestTree *t, int argc, char *argv[]) {
        static const struct option options[] = {
                { "hostname", required_argument, NULL, 'h' },
                {},
        };
        const char *hostname = NULL, *units;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        hostname = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind != argc)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "fixup: unexpected argument '%s'.", argv[optind]);

        units = unit_dir(t);
        if (!units)
                log_notice("%s has no systemd; only /etc/fstab, the machine-id and SSH host keys are adjusted.",
                           t->path);

        r = fix_fstab(t);
        if (r >= 0)
                r = fix_identity(t, hostname);
        if (r >= 0)
                r = fix_ssh(t, units);
        if (r >= 0)
                r = fix_getty(t, units);
        if (r >= 0) /* cloud-init would override what config-inject writes. */
                r = guest_files_disable_cloud_init(t, 0, 0, 0);
        return r;
}

/* ---- single edits for the script ----------------------------------------- */

static int read_host_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t done = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t) st.st_size - done);

                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        buf[done] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = done;
        return 0;
}

static int verb_install(const GuestTree *t, const char *src, const char *dest, const char *mode_s) {
        _cleanup_free_ char *data = NULL;
        unsigned long mode;
        size_t size = 0;
        char *end;
        int r;

        errno = 0;
        mode = strtoul(mode_s, &end, 8);
        if (errno != 0 || *end || mode > 07777)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "install: invalid mode '%s'.", mode_s);
        r = read_host_file(src, INSTALL_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", src);
        return write_file(t, dest, data, size, (mode_t) mode);
}

static int verb_append_lines(const GuestTree *t, const char *path, char **lines) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        size_t size = 0, out_size = 0;
        struct stat st = {};
        FILE *f;
        int r;

        r = guest_tree_read_text(t, path, GUEST_TEXT_MAX, GUEST_READ_MISSING_OK, &in, &st);
        if (r < 0)
                return r;
        size = in ? strlen(in) : 0;

        f = open_memstream(&out, &out_size);
        if (!f)
                return log_oom();
        if (in) {
                fputs(in, f);
                if (size > 0 && in[size - 1] != '\n')
                        fputc('\n', f);
        }
        for (char **l = lines; *l; l++) {
                bool found = false;

                for (const char *p = in ?: ""; *p;) {
                        size_t len = strcspn(p, "\n");

                        if (len == strlen(*l) && strncmp(p, *l, len) == 0)
                                found = true;
                        p += len + (p[len] == '\n');
                }
                if (!found)
                        fprintf(f, "%s\n", *l);
        }
        if (fclose(f) != 0)
                return log_oom();
        return write_file(t, path, out, out_size, in ? (st.st_mode & 07777) : 0644);
}

static int verb_resolve(const GuestTree *t, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *root = NULL;
        char proc[64], target[PATH_MAX];
        ssize_t n;

        fd = safe_open_at(t->fd, path, O_PATH, 0);
        if (fd < 0)
                return guest_tree_log_error(t, fd, "look up", path);
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        n = readlink(proc, target, sizeof target - 1);
        if (n < 0)
                return log_error_errno(errno, "Failed to read '%s': %m", proc);
        target[n] = '\0';
        root = realpath(t->path, NULL);
        if (!root)
                return log_error_errno(errno, "Failed to resolve '%s': %m", t->path);
        /* openat2() guarantees this; checked anyway before the script trusts it. */
        if (!(strncmp(target, root, strlen(root)) == 0 && (target[strlen(root)] == '/' || target[strlen(root)] == 0)))
                return log_error_errno(SYNTHETIC_ERRNO(EXDEV), "'%s' resolved to '%s', outside %s.", path, target,
                                       root);
        puts(target);
        return 0;
}

static int verb_write_id(const GuestTree *t, const char *id) {
        _cleanup_free_ char *s = NULL;

        /* overlay-prepare reads the first line and wants one token. */
        if (isempty(id) || strpbrk(id, " \t\n") || string_has_cc(id))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "write-id: invalid id '%s'.", id);
        if (asprintf(&s, "%s\n", id) < 0)
                return log_oom();
        return write_file(t, "/etc/cowvm-base-id", s, strlen(s), 0444);
}

static int run(int argc, char *argv[]) {
        _cleanup_close_ int fd = -EBADF;
        const char *verb;
        GuestTree t;
        int r;

        if (argc < 3)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "Usage: mkbase-fixup ROOT fixup|install|symlink|append-lines|resolve|write-id ARGS...");
        r = safe_fs_open_root(argv[1], &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open the base tree '%s': %s", argv[1],
                                       safe_fs_error_explain(r) ?: strerror(-r));
        t = (GuestTree) { .fd = fd, .path = argv[1], .label = "the base tree" };
        verb = argv[2];

        if (streq(verb, "fixup"))
                return verb_fixup(&t, argc - 2, argv + 2);
        if (streq(verb, "install") && argc == 6)
                return verb_install(&t, argv[3], argv[4], argv[5]);
        if (streq(verb, "symlink") && argc == 5)
                return guest_tree_symlink(&t, argv[3], argv[4]);
        if (streq(verb, "append-lines") && argc >= 5)
                return verb_append_lines(&t, argv[3], argv + 4);
        if (streq(verb, "resolve") && argc == 4)
                return verb_resolve(&t, argv[3]);
        if (streq(verb, "write-id") && argc == 4)
                return verb_write_id(&t, argv[3]);
        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown verb or wrong number of arguments: '%s'.", verb);
}

DEFINE_MAIN_FUNCTION("mkbase-fixup", LOG_TARGET_CONSOLE, run);
