/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inject-test.h"
#include "macro.h"
#include "path-util.h"
#include "safe-fs.h"
#include "sha256.h"

unsigned tests_failed;

static _noreturn_ void fixture_fail(const char *what, const char *path) {
        fprintf(stderr, "fixture: %s '%s': %s\n", what, path, strerror(errno));
        abort();
}

char *tmpdir_new(void) {
        const char *t = getenv("TMPDIR");
        char *p;

        if (asprintf(&p, "%s/cowvm-inject-XXXXXX", t ?: "/tmp") < 0 || !mkdtemp(p))
                fixture_fail("mkdtemp", "");
        return p;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
        (void) (flag == FTW_DP ? rmdir(p) : unlink(p));
        return 0;
}

void tmpdir_remove(const char *dir) {
        if (getenv("COWVM_TEST_KEEP"))
                return;
        (void) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void mkdir_parents(char *p) {
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        fixture_fail("mkdir", p);
                *s = '/';
        }
}

void tree_write(const char *dir, const char *rel, const char *content) {
        _cleanup_free_ char *p = path_join(dir, rel);
        FILE *f;

        mkdir_parents(p);
        if (!content) {
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        fixture_fail("mkdir", p);
                return;
        }
        f = fopen(p, "we");
        if (!f || fputs(content, f) < 0 || fclose(f) != 0)
                fixture_fail("write", p);
}

void tree_symlink(const char *dir, const char *rel, const char *target) {
        _cleanup_free_ char *p = path_join(dir, rel);

        mkdir_parents(p);
        (void) unlink(p);
        if (symlink(target, p) < 0)
                fixture_fail("symlink", p);
}

char *tree_read(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_join(dir, rel);
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        char *buf = NULL;
        size_t n = 0;

        if (!f || getdelim(&buf, &n, '\0', f) < 0) {
                free(buf);
                return f ? strdup("") : NULL;
        }
        return buf;
}

bool tree_exists(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_join(dir, rel);
        struct stat st;

        return lstat(p, &st) >= 0;
}

bool tree_is_symlink_to(const char *dir, const char *rel, const char *target) {
        _cleanup_free_ char *p = path_join(dir, rel);
        char buf[4096];
        ssize_t n = readlink(p, buf, sizeof(buf) - 1);

        if (n < 0)
                return false;
        buf[n] = '\0';
        return streq(buf, target);
}

static FILE *snap_out;
static size_t snap_prefix;

static int snap_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
        char hash[2 * SHA256_DIGEST_SIZE + 1] = "-";

        if (S_ISREG(st->st_mode) && st->st_size <= 1024 * 1024) {
                _cleanup_free_ char *data = NULL;
                uint8_t h[SHA256_DIGEST_SIZE];
                size_t n = 0;
                _cleanup_fclose_ FILE *in = fopen(p, "re");

                if (in) {
                        data = malloc((size_t) st->st_size + 1);
                        if (data)
                                n = fread(data, 1, (size_t) st->st_size, in);
                        sha256(data, n, h);
                        for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++)
                                sprintf(hash + 2 * i, "%02x", h[i]);
                }
        }
        fprintf(snap_out, "%s %o %u:%u size=%lld ino=%llu hash=%s", p + snap_prefix, (unsigned) st->st_mode,
                (unsigned) st->st_uid, (unsigned) st->st_gid, (long long) st->st_size, (unsigned long long) st->st_ino,
                hash);
        if (S_ISLNK(st->st_mode)) {
                char buf[4096];
                ssize_t n = readlink(p, buf, sizeof(buf) - 1);
                fprintf(snap_out, " -> %.*s", (int) (n < 0 ? 0 : n), buf);
        }
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                fprintf(snap_out, " rdev=%llu", (unsigned long long) st->st_rdev);
        fputc('\n', snap_out);
        return 0;
}

char *snapshot(const char *dir) {
        char *buf = NULL;
        size_t size = 0;

        snap_out = open_memstream(&buf, &size);
        snap_prefix = strlen(dir);
        if (!snap_out || nftw(dir, snap_one, 16, FTW_PHYS) < 0)
                fixture_fail("snapshot", dir);
        fclose(snap_out);
        return buf;
}

VmDefinition *definition_new(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *file = NULL, *path = NULL;
        VmDefinition *d = NULL;

        if (asprintf(&file, "defs/%s.vm", name) < 0)
                abort();
        tree_write(dir, file, text);
        path = path_join(dir, file);
        if (vm_definition_parse(name, path, NULL, &d) < 0) {
                fprintf(stderr, "fixture: definition rejected:\n%s\n", text);
                abort();
        }
        return d;
}

void context_init(InjectContext *c, const char *root, const char *base, const VmDefinition *d) {
        int root_fd = -EBADF, base_fd = -EBADF;

        if (safe_fs_open_root(root, &root_fd) < 0)
                fixture_fail("open root", root);
        if (base && safe_fs_open_root(base, &base_fd) < 0)
                fixture_fail("open base", base);
        *c = (InjectContext) {
                .root = { .fd = root_fd, .path = root, .label = INJECT_ROOT_LABEL },
                .base_fd = base_fd,
                .def = d,
                .owner_uid = getuid(),
                .owner_gid = getgid(),
        };
}

void context_done(InjectContext *c) {
        safe_close(c->root.fd);
        safe_close(c->base_fd);
        c->root.fd = c->base_fd = -EBADF;
}

int run_captured(int (*fn)(void *userdata), void *userdata, char **ret_log) {
        FILE *tmp = tmpfile();
        int saved = dup(STDERR_FILENO), r;
        char *buf = NULL;
        size_t n = 0;

        if (!tmp || saved < 0)
                abort();
        fflush(stderr);
        dup2(fileno(tmp), STDERR_FILENO);
        r = fn(userdata);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(tmp);
        if (getdelim(&buf, &n, '\0', tmp) < 0) {
                free(buf);
                buf = strdup("");
        }
        fclose(tmp);
        fprintf(stderr, "%s", buf);
        *ret_log = buf;
        return r;
}

static int run_inject_all(void *userdata) {
        return inject_all(userdata);
}

int inject_all_captured(const InjectContext *c, char **ret_log) {
        return run_captured(run_inject_all, (void *) c, ret_log);
}

int run_program(char *const argv[]) {
        int status;
        pid_t pid;

        fflush(stderr);
        pid = fork();
        if (pid < 0)
                fixture_fail("fork", argv[0]);
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid)
                fixture_fail("waitpid", argv[0]);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void base_debian_like(const char *dir) {
        char line[256];
        _cleanup_free_ char *passwd = NULL;

        snprintf(line, sizeof(line), "user:x:%u:%u:A User,,,:/home/user:/bin/bash\n", (unsigned) getuid(),
                 (unsigned) getgid());
        /* root's ids are the caller's, so that the tests run unprivileged too
         * (as root they are 0 anyway). */
        if (asprintf(&passwd,
                     "root:x:%u:%u:root:/root:/bin/bash\n"
                     "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                     "%s"
                     "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n",
                     (unsigned) getuid(), (unsigned) getgid(), line) < 0)
                abort();
        tree_write(dir, "etc/passwd", passwd);
        tree_write(dir, "etc/shadow",
                   "root:*:19500:0:99999:7:::\n"
                   "daemon:*:19500:0:99999:7:::\n"
                   "user:!:19500:0:99999:7:::\n"
                   "sshd:!:19500::::::\n");
        tree_write(dir, "etc/hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n");
        tree_write(dir, "etc/hostname", "debian\n");
        tree_write(dir, "etc/machine-id", "");
        tree_write(dir, "etc/fstab",
                   "# /etc/fstab: static file system information.\n"
                   "PARTUUID=1234-01 / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\n"
                   "PARTUUID=1234-15 /boot/efi vfat defaults 0 0\n"
                   "tmpfs /tmp tmpfs defaults,size=10% 0 0\n");
        tree_write(dir, "root", NULL);
        tree_write(dir, "home/user", NULL);
        tree_write(dir, "usr/lib/systemd/systemd", "");
        tree_write(dir, "usr/lib/systemd/system/systemd-networkd.service", "[Unit]\n");
        tree_symlink(dir, "lib", "usr/lib");
        tree_write(dir, "usr/sbin/sshd", "");
        tree_write(dir, "etc/ssh/sshd_config", "");
        tree_write(dir, "etc/ssh/ssh_host_ed25519_key", "BASE PRIVATE KEY\n");
        tree_write(dir, "etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAABASE root@base\n");
}
