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
 * openat2(RESOLVE_IN_ROOT) (lib/safe-fs.h) exactly as the guest will resolve
 * them, and a symlink as the last component is replaced, never written
 * through.
 *
 * Verbs:
 *   fixup [--hostname=NAME]   the standard edits (see fixup() below)
 *   install SRC DEST MODE     copy the host file SRC to DEST in the tree
 *   symlink TARGET DEST       make DEST a symlink to TARGET (a guest path)
 *   append-lines PATH LINE... add each LINE not yet in PATH (created if absent)
 *   resolve PATH              print where PATH, resolved inside the tree, is
 *                             on the host (so the script may read it)
 *   write-id ID               write ID to /etc/cowvm-base-id
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"
#include "main-func.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"

#define FILE_MAX (16U * 1024U * 1024U)
#define INSTALL_MAX (1024U * 1024U * 1024U)

typedef struct Tree {
        int fd;
        const char *path;
} Tree;

static int log_fs_error(const Tree *t, int r, const char *verb, const char *path) {
        const char *why = safe_fs_error_explain(r);

        if (why)
                return log_error_errno(r, "Failed to %s '%s' in the base tree %s: %s.", verb, path, t->path, why);
        return log_error_errno(r, "Failed to %s '%s' in the base tree %s: %m", verb, path, t->path);
}

static bool exists(const Tree *t, const char *path) {
        return safe_exists_at(t->fd, path) > 0;
}

static int make_parent(const Tree *t, const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;
        int r;

        if (!dir)
                return log_oom();
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        r = safe_mkdir_p_at(t->fd, dir, 0755, NULL);
        if (r < 0)
                return log_fs_error(t, r, "create the directory", dir);
        return 0;
}

static int write_file(const Tree *t, const char *path, const void *data, size_t size, mode_t mode) {
        int r;

        r = make_parent(t, path);
        if (r < 0)
                return r;
        r = safe_write_file_atomic_at(t->fd, path, data, size, mode, 0, 0, 0);
        if (r < 0)
                return log_fs_error(t, r, "write", path);
        return 0;
}

static int write_symlink(const Tree *t, const char *target, const char *path) {
        int r;

        r = make_parent(t, path);
        if (r < 0)
                return r;
        r = safe_symlink_atomic_at(t->fd, target, path);
        if (r < 0)
                return log_fs_error(t, r, "create the symlink", path);
        return 0;
}

static int remove_file(const Tree *t, const char *path, const char *why) {
        int r = safe_unlink_at(t->fd, path);

        if (r < 0)
                return log_fs_error(t, r, "remove", path);
        if (r > 0)
                log_info("Removed %s: %s", path, why);
        return 0;
}

/* ---- the standard edits -------------------------------------------------- */

/* Block devices the VM does not have would make systemd wait 90 s for each;
 * the root is the virtio-fs share. Same rewrite as config-inject's, so that a
 * VM's first start changes nothing more here. */
static int fix_fstab(const Tree *t) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        size_t size = 0;
        int r;

        r = safe_read_file_at(t->fd, "/etc/fstab", FILE_MAX, &in, &size, NULL);
        if (r < 0 && r != -ENOENT && r != -ELOOP)
                return log_fs_error(t, r, "read", "/etc/fstab");
        if (r == -ELOOP)
                log_warning("/etc/fstab in %s is a symbolic link; replacing it with a file.", t->path);
        if (r < 0)
                in = mfree(in);
        if (in && memchr(in, '\0', size))
                return log_error_errno(EBADMSG, "/etc/fstab in %s contains a NUL byte; refusing to edit it.", t->path);
        if (fstab_rewrite(in, &out) < 0)
                return log_oom();
        return write_file(t, "/etc/fstab", out, strlen(out), 0644);
}

/* An empty machine-id, not "uninitialized": systemd then makes up a new id at
 * every boot of the bare base (and config-inject gives each VM its own), but
 * does not consider the boot a "first boot", which would run
 * systemd-firstboot (prompting on the console) and apply presets over what
 * the base enabled. Anything that copies the id elsewhere goes too. */
static int fix_identity(const Tree *t, const char *hostname) {
        struct stat st;
        int r;

        r = write_file(t, "/etc/machine-id", "", 0, 0444);
        if (r < 0)
                return r;
        if (safe_lstat_at(t->fd, "/var/lib/dbus/machine-id", &st) >= 0 && !S_ISLNK(st.st_mode)) {
                r = write_symlink(t, "/etc/machine-id", "/var/lib/dbus/machine-id");
                if (r < 0)
                        return r;
        }
        r = remove_file(t, "/var/lib/systemd/random-seed", "VMs must not start from one shared seed.");
        if (r < 0)
                return r;
        r = remove_file(t, "/var/lib/systemd/credential.secret", "it is a per-machine secret.");
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

/* Only Ed25519 and ECDSA keys: `ssh-keygen -A` also makes an RSA key, which
 * took more than five minutes under QEMU's TCG emulation (prime search),
 * holding up multi-user.target; the two others take a fraction of a second,
 * and every OpenSSH client of the last decade accepts them. */
static const char keygen_unit[] = "# Installed by cowvm-mkbase(8). A cowvm base has no SSH host keys: VMs must not\n"
                                  "# share them. Debian's ssh.service does not create missing keys, so this does.\n"
                                  "[Unit]\n"
                                  "Description=Generate this machine's own SSH host keys\n"
                                  "Documentation=man:cowvm-mkbase(8)\n"
                                  "ConditionPathExists=|!/etc/ssh/ssh_host_ed25519_key\n"
                                  "ConditionPathExists=|!/etc/ssh/ssh_host_ecdsa_key\n"
                                  "Before=ssh.service ssh.socket sshd.service\n"
                                  "\n"
                                  "[Service]\n"
                                  "Type=oneshot\n"
                                  "ExecStart=/bin/sh -c 'for t in ed25519 ecdsa; do f=/etc/ssh/ssh_host_$${t}_key; "
                                  "[ -e $$f ] || ssh-keygen -q -t $$t -N \"\" -f $$f || exit; done'\n"
                                  "\n"
                                  "[Install]\n"
                                  "WantedBy=multi-user.target\n";

/* sshd would look for an RSA key too and log its absence at every start. */
static const char sshd_hostkeys[] = "# Installed by cowvm-mkbase(8): the host keys cowvm-ssh-keygen.service makes.\n"
                                    "HostKey /etc/ssh/ssh_host_ed25519_key\n"
                                    "HostKey /etc/ssh/ssh_host_ecdsa_key\n";

/* Where the tree's systemd keeps its units: /lib/systemd/system on Debian 12
 * (a symlink into /usr on merged-/usr trees, resolved in the tree). */
static const char *unit_dir(const Tree *t) {
        if (exists(t, "/lib/systemd/system/systemd-journald.service"))
                return "/lib/systemd/system";
        if (exists(t, "/usr/lib/systemd/system/systemd-journald.service"))
                return "/usr/lib/systemd/system";
        return NULL;
}

static int fix_ssh(const Tree *t, const char *units) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_(closedirp) DIR *dir = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *unit = NULL;
        struct dirent *de;
        int r;

        dir_fd = safe_open_at(t->fd, "/etc/ssh", O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd >= 0) {
                dir = fdopendir(dir_fd);
                if (!dir)
                        return log_oom();
                TAKE_FD(dir_fd);
                while ((de = readdir(dir)))
                        if (strncmp(de->d_name, "ssh_host_", 9) == 0 && strv_extend(&names, de->d_name) < 0)
                                return log_oom();
                STRV_FOREACH (n, names) {
                        _cleanup_free_ char *p = path_join("/etc/ssh", *n);

                        if (!p)
                                return log_oom();
                        r = remove_file(t, p, "every VM generates its own host keys.");
                        if (r < 0)
                                return r;
                }
        } else if (dir_fd != -ENOENT)
                return log_fs_error(t, dir_fd, "open", "/etc/ssh");

        if (!exists(t, "/usr/sbin/sshd"))
                return 0;
        if (!units) {
                log_notice("%s has sshd but no systemd: its init must run 'ssh-keygen -A' before sshd.", t->path);
                return 0;
        }
        unit = path_join(units, "cowvm-ssh-keygen.service");
        if (!unit)
                return log_oom();
        r = write_file(t, unit, keygen_unit, strlen(keygen_unit), 0644);
        if (r < 0)
                return r;
        if (exists(t, "/etc/ssh/sshd_config.d")) {
                r = write_file(t, "/etc/ssh/sshd_config.d/cowvm-hostkeys.conf", sshd_hostkeys, strlen(sshd_hostkeys),
                               0644);
                if (r < 0)
                        return r;
        }
        return write_symlink(t, unit, "/etc/systemd/system/multi-user.target.wants/cowvm-ssh-keygen.service");
}

/* systemd-getty-generator already starts a getty on the console named by the
 * last console= (ttyS0 with cowvm's kernel command line); enabling it here
 * keeps the login prompt on the serial console when KernelCommandLine= adds
 * another console= after it. Both pull in the same unit. */
static int fix_getty(const Tree *t, const char *units) {
        _cleanup_free_ char *tmpl = NULL;

        if (!units)
                return 0;
        tmpl = path_join(units, "serial-getty@.service");
        if (!tmpl)
                return log_oom();
        if (!exists(t, tmpl))
                return 0;
        return write_symlink(t, tmpl, "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service");
}

/* cloud-init would wait for a metadata source that never answers, then
 * override what config-inject wrote (keys, host keys, network). */
static int fix_cloud_init(const Tree *t) {
        static const char text[] = "cloud-init is disabled in this cowvm base (cowvm-mkbase(8)): cowvm configures\n"
                                   "each VM from its definition (host name, network, SSH keys).\n";

        if (!exists(t, "/etc/cloud") && !exists(t, "/usr/bin/cloud-init"))
                return 0;
        return write_file(t, "/etc/cloud/cloud-init.disabled", text, strlen(text), 0644);
}

static int verb_fixup(const Tree *t, int argc, char *argv[]) {
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
                return log_error_errno(EINVAL, "fixup: unexpected argument '%s'.", argv[optind]);

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
        if (r >= 0)
                r = fix_cloud_init(t);
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

static int verb_install(const Tree *t, const char *src, const char *dest, const char *mode_s) {
        _cleanup_free_ char *data = NULL;
        unsigned long mode;
        size_t size = 0;
        char *end;
        int r;

        errno = 0;
        mode = strtoul(mode_s, &end, 8);
        if (errno != 0 || *end || mode > 07777)
                return log_error_errno(EINVAL, "install: invalid mode '%s'.", mode_s);
        r = read_host_file(src, INSTALL_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", src);
        return write_file(t, dest, data, size, (mode_t) mode);
}

static int verb_append_lines(const Tree *t, const char *path, char **lines) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        size_t size = 0, out_size = 0;
        struct stat st = {};
        FILE *f;
        int r;

        r = safe_read_file_at(t->fd, path, FILE_MAX, &in, &size, &st);
        if (r < 0 && r != -ENOENT)
                return log_fs_error(t, r, "read", path);

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

static int verb_resolve(const Tree *t, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *root = NULL;
        char proc[64], target[PATH_MAX];
        ssize_t n;

        fd = safe_open_at(t->fd, path, O_PATH, 0);
        if (fd < 0)
                return log_fs_error(t, fd, "look up", path);
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
                return log_error_errno(EXDEV, "'%s' resolved to '%s', outside %s.", path, target, root);
        puts(target);
        return 0;
}

static int verb_write_id(const Tree *t, const char *id) {
        _cleanup_free_ char *s = NULL;

        /* overlay-prepare reads the first line and wants one token. */
        if (isempty(id) || strpbrk(id, " \t\n") || string_has_cc(id))
                return log_error_errno(EINVAL, "write-id: invalid id '%s'.", id);
        if (asprintf(&s, "%s\n", id) < 0)
                return log_oom();
        return write_file(t, "/etc/cowvm-base-id", s, strlen(s), 0444);
}

static int run(int argc, char *argv[]) {
        _cleanup_close_ int fd = -EBADF;
        const char *verb;
        Tree t;
        int r;

        if (argc < 3) {
                log_error("Usage: mkbase-fixup ROOT fixup|install|symlink|append-lines|resolve|write-id ARGS...");
                return -EINVAL;
        }
        r = safe_fs_open_root(argv[1], &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open the base tree '%s': %s", argv[1],
                                       safe_fs_error_explain(r) ?: strerror(-r));
        t = (Tree) { .fd = fd, .path = argv[1] };
        verb = argv[2];

        if (streq(verb, "fixup"))
                return verb_fixup(&t, argc - 2, argv + 2);
        if (streq(verb, "install") && argc == 6)
                return verb_install(&t, argv[3], argv[4], argv[5]);
        if (streq(verb, "symlink") && argc == 5)
                return write_symlink(&t, argv[3], argv[4]);
        if (streq(verb, "append-lines") && argc >= 5)
                return verb_append_lines(&t, argv[3], argv + 4);
        if (streq(verb, "resolve") && argc == 4)
                return verb_resolve(&t, argv[3]);
        if (streq(verb, "write-id") && argc == 4)
                return verb_write_id(&t, argv[3]);
        return log_error_errno(EINVAL, "Unknown verb or wrong number of arguments: '%s'.", verb);
}

DEFINE_MAIN_FUNCTION("mkbase-fixup", LOG_TARGET_CONSOLE, run);
