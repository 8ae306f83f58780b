/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Hostile layouts a guest can leave in its root (or an image in a base being
 * made): nothing that edits such a tree may change anything outside it,
 * block, or do more than its job inside it; it fails with a message that
 * names the file. Each layout is tried on what edits trees:
 *   - config-inject's writers (inject_all()),
 *   - lib's guest-tree layer under them and mkbase-fixup (each wrapper, and
 *     the shared guest-files.h writers),
 *   - mkbase-fixup itself, the real binary (argv[1]; its cases need root:
 *     it makes the files it writes root's).
 *
 * Each case builds a fresh tree:
 *   root/     the VM's root, as the guest left it
 *   base/     its base
 *   outside/  sentinel files next to the root (hard links to them work)
 *   other/    another VM's root
 * and snapshots base/, outside/, other/ and a few host files before and
 * after. Cases that need root (device nodes) are skipped otherwise.
 */

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest-files.h"
#include "guest-tree.h"
#include "inject-test.h"
#include "macro.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one@host"
#define HASH "$6$saltsalt$0123456789abcdefABCDEF./"

typedef enum Expect {
        EXPECT_OK,   /* succeeds, confined to the root */
        EXPECT_FAIL, /* fails, and says why */
} Expect;

typedef struct Tree {
        const char *dir, *root, *outside, *other, *base;
} Tree;

typedef struct Case {
        const char *name;
        const char *definition; /* after [VM] Base= */
        void (*plant)(const Tree *t);
        Expect expect;
        const char *message; /* must appear in the log */
        void (*verify)(const Tree *t);
        bool needs_root;
} Case;

static char *p2(const char *a, const char *b) {
        char *s = path_join(a, b);
        if (!s)
                abort();
        return s;
}

static void rm_rf_path(const char *path) {
        _cleanup_free_ char *cmd = NULL;

        if (asprintf(&cmd, "rm -rf -- '%s'", path) < 0 || system(cmd) != 0) {
                fprintf(stderr, "fixture: '%s' failed\n", cmd);
                abort();
        }
}

static void rm_rf(const char *dir, const char *rel) {
        _cleanup_free_ char *p = p2(dir, rel);
        rm_rf_path(p);
}

static void hardlink(const char *from_dir, const char *from, const char *to_dir, const char *to) {
        _cleanup_free_ char *a = p2(from_dir, from), *b = p2(to_dir, to);

        (void) unlink(b);
        if (link(a, b) < 0)
                abort();
}

/* ---- the layouts ---------------------------------------------------------- */

static void plant_nothing(const Tree *t) {
}

static void plant_etc_to_slash(const Tree *t) {
        rm_rf(t->root, "etc");
        tree_symlink(t->root, "etc", "/");
}
static void verify_etc_to_slash(const Tree *t) {
        /* "/etc" is the root itself, as the guest sees it: written there. */
        _cleanup_free_ char *s = tree_read(t->root, "hostname");
        CHECK_STREQ(s, "vm1\n");
}

static void plant_etc_dotdot(const Tree *t) {
        rm_rf(t->root, "etc");
        tree_symlink(t->root, "etc", "../../../../../../../../etc");
}

static void plant_hostname_to_host_passwd(const Tree *t) {
        rm_rf(t->root, "etc/hostname");
        tree_symlink(t->root, "etc/hostname", "/etc/passwd");
}
static void verify_hostname_replaced(const Tree *t) {
        _cleanup_free_ char *s = tree_read(t->root, "etc/hostname");
        CHECK(!tree_is_symlink_to(t->root, "etc/hostname", "/etc/passwd"));
        CHECK_STREQ(s, "vm1\n");
}

static void plant_hostname_to_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "hostname");
        rm_rf(t->root, "etc/hostname");
        tree_symlink(t->root, "etc/hostname", target);
}

static void plant_shadow_fifo(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/shadow");
        unlink(p);
        if (mkfifo(p, 0600) < 0)
                abort();
}

static void plant_shadow_socket(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/shadow");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        unlink(p);
        if (fd < 0 || strlen(p) >= sizeof(sa.sun_path))
                abort();
        strcpy(sa.sun_path, p);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
                abort();
        /* Left open: a connect() would then succeed and hang on read. */
}

static void plant_shadow_device(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/shadow");
        unlink(p);
        if (mknod(p, S_IFCHR | 0600, makedev(1, 3)) < 0)
                abort();
}

static void plant_hostname_dir(const Tree *t) {
        rm_rf(t->root, "etc/hostname");
        tree_write(t->root, "etc/hostname/keep", "guest data\n");
}
static void verify_hostname_dir(const Tree *t) {
        _cleanup_free_ char *s = tree_read(t->root, "etc/hostname/keep");
        CHECK_STREQ(s, "guest data\n");
}

static void plant_ssh_dir_to_host(const Tree *t) {
        tree_symlink(t->root, "root/.ssh", "/root/.ssh");
}

static void plant_ssh_dir_to_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        tree_symlink(t->root, "root/.ssh", target);
}

static void plant_keys_hardlink(const Tree *t) {
        tree_write(t->root, "root/.ssh", NULL);
        hardlink(t->outside, "keys", t->root, "root/.ssh/authorized_keys");
}
static void verify_keys_hardlink(const Tree *t) {
        _cleanup_free_ char *s = tree_read(t->root, "root/.ssh/authorized_keys");
        CHECK(s && strstr(s, KEY));
}

static void plant_machine_id_hardlink(const Tree *t) {
        hardlink(t->outside, "machine-id", t->root, "etc/machine-id");
}

static void plant_shadow_hardlink_other_vm(const Tree *t) {
        hardlink(t->other, "etc/shadow", t->root, "etc/shadow");
}

static void plant_passwd_proc_self_root(const Tree *t) {
        rm_rf(t->root, "etc/passwd");
        tree_symlink(t->root, "etc/passwd", "/proc/self/root/etc/passwd");
}

static void plant_network_dir_proc_self_root(const Tree *t) {
        tree_symlink(t->root, "etc/systemd/network", "/proc/self/root/etc/systemd/network");
}

static void plant_systemd_dir_absolute_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        tree_symlink(t->root, "etc/systemd", target);
}

static void plant_systemd_dir_other_vm(const Tree *t) {
        _cleanup_free_ char *target = p2(t->other, "etc/systemd");
        rm_rf(t->root, "etc/systemd");
        tree_symlink(t->root, "etc/systemd", target);
}

static void plant_hosts_loop(const Tree *t) {
        rm_rf(t->root, "etc/hosts");
        tree_symlink(t->root, "etc/hosts", "hosts2");
        tree_symlink(t->root, "etc/hosts2", "hosts");
}

static void plant_dir_loop(const Tree *t) {
        rm_rf(t->root, "etc/systemd");
        tree_symlink(t->root, "etc/systemd", "/etc/loop");
        tree_symlink(t->root, "etc/loop", "/etc/systemd");
}

static void plant_sparse_shadow(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/shadow");
        if (truncate(p, 10LL * 1024 * 1024 * 1024) < 0)
                abort();
}

static void plant_home_dotdot(const Tree *t) {
        tree_write(t->root, "etc/passwd", "root:x:0:0:root:/../../etc:/bin/bash\n");
}

static void plant_passwd_huge_line(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/passwd");
        FILE *f = fopen(p, "ae");

        if (!f)
                abort();
        fputs("huge:x:1:1:", f);
        for (int i = 0; i < 20 * 1024; i++)
                fprintf(f, "%01023d", 0);
        fputs(":/home/huge:/bin/sh\n", f);
        fclose(f);
}

static void plant_passwd_long_gecos(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/passwd");
        FILE *f = fopen(p, "we");

        if (!f)
                abort();
        fprintf(f, "big:x:1:1:");
        for (int i = 0; i < 2 * 1024; i++)
                fprintf(f, "%01023d", 0);
        fprintf(f, ":/home/big:/bin/sh\nroot:x:%u:%u:root:/root:/bin/bash\n", (unsigned) getuid(),
                (unsigned) getgid());
        fclose(f);
}

static void plant_home_to_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        rm_rf(t->root, "root");
        tree_symlink(t->root, "root", target);
}

static void plant_ssh_dir_is_file(const Tree *t) {
        tree_write(t->root, "root/.ssh", "not a directory\n");
}

static void plant_host_key_fifo(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/ssh/ssh_host_ed25519_key");
        unlink(p);
        if (mkfifo(p, 0600) < 0)
                abort();
}

static void plant_fstab_to_host(const Tree *t) {
        rm_rf(t->root, "etc/fstab");
        tree_symlink(t->root, "etc/fstab", "/etc/fstab");
}

static void plant_wants_dir_is_file(const Tree *t) {
        tree_write(t->root, "etc/systemd/system/multi-user.target.wants", "a file\n");
}

static void plant_netplan_to_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        tree_symlink(t->root, "etc/netplan", target);
        tree_write(t->root, "usr/sbin/netplan", "");
}

static void plant_hostname_setuid_hardlink(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "usr/bin/su");
        tree_write(t->root, "usr/bin/su", "#!/bin/sh\n");
        if (chmod(p, 04755) < 0)
                abort();
        hardlink(t->root, "usr/bin/su", t->root, "etc/hostname");
}
static void verify_hostname_not_setuid(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/hostname"), *su = p2(t->root, "usr/bin/su");
        struct stat st;
        _cleanup_free_ char *s = tree_read(t->root, "usr/bin/su");

        CHECK(stat(p, &st) >= 0 && (st.st_mode & 07777) == 0644);
        CHECK(stat(su, &st) >= 0 && (st.st_mode & 07777) == 04755);
        CHECK_STREQ(s, "#!/bin/sh\n");
}

static void plant_shadow_nul(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/shadow");
        FILE *f = fopen(p, "we");
        if (!f)
                abort();
        fwrite("root:*:1::::::\n\0evil\n", 1, 21, f);
        fclose(f);
}

/* Just under what config-inject reads: 9-byte block-device lines, each of
 * which the edit would prefix with "#cowvm-disabled: ". Written as it
 * would be edited, the file could never be read again: no later start. */
#define FSTAB_LINE "/dev/x y\n"
static void plant_fstab_near_limit(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/fstab");
        FILE *f = fopen(p, "we");
        if (!f)
                abort();
        for (size_t n = 0; n + strlen(FSTAB_LINE) <= INJECT_READ_MAX; n += strlen(FSTAB_LINE))
                fputs(FSTAB_LINE, f);
        fclose(f);
}
static void verify_fstab_near_limit(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/fstab");
        char head[2 * (sizeof(FSTAB_LINE) - 1) + 1] = {};
        struct stat st;
        FILE *f = fopen(p, "re");

        CHECK(f && fread(head, 1, sizeof head - 1, f) == sizeof head - 1);
        if (f)
                fclose(f);
        CHECK_STREQ(head, FSTAB_LINE FSTAB_LINE);
        CHECK(stat(p, &st) >= 0 && (size_t) st.st_size <= INJECT_READ_MAX);
}

static void plant_hosts_at_limit(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/hosts");
        FILE *f = fopen(p, "we");
        if (!f)
                abort();
        for (size_t n = 0; n < INJECT_READ_MAX; n++)
                fputc(n % 64 == 63 ? '\n' : '#', f);
        fclose(f);
}
static void verify_hosts_at_limit(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/hosts");
        struct stat st;

        CHECK(stat(p, &st) >= 0 && (size_t) st.st_size == INJECT_READ_MAX);
}

static const Case cases[] = {
        { "etc is a symlink to /", "", plant_etc_to_slash, EXPECT_OK, NULL, verify_etc_to_slash, false },
        { "etc is a ../../ chain", "", plant_etc_dotdot, EXPECT_FAIL, "symbolic link", NULL, false },
        { "/etc/hostname -> host /etc/passwd", "", plant_hostname_to_host_passwd, EXPECT_OK,
          "'/etc/hostname' in the VM root", verify_hostname_replaced, false },
        { "/etc/hostname -> absolute path outside", "", plant_hostname_to_outside, EXPECT_OK,
          "'/etc/hostname' in the VM root", verify_hostname_replaced, false },
        { "/etc/shadow is a FIFO", "[Guest]\nPasswordHash=" HASH "\n", plant_shadow_fifo, EXPECT_FAIL,
          "'/etc/shadow' in the VM root", NULL, false },
        { "/etc/shadow is a listening socket", "[Guest]\nPasswordHash=" HASH "\n", plant_shadow_socket, EXPECT_FAIL,
          "not a regular file", NULL, false },
        { "/etc/shadow is /dev/null's device node", "[Guest]\nPasswordHash=" HASH "\n", plant_shadow_device,
          EXPECT_FAIL, "not a regular file", NULL, true },
        { "/etc/hostname is a directory", "", plant_hostname_dir, EXPECT_FAIL, "'/etc/hostname' in the VM root",
          verify_hostname_dir, false },
        { "/root/.ssh -> host /root/.ssh", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_ssh_dir_to_host, EXPECT_FAIL,
          "'/root/.ssh' in the VM root", NULL, false },
        { "/root/.ssh -> absolute path outside", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_ssh_dir_to_outside,
          EXPECT_FAIL, "is a symbolic link", NULL, false },
        { "authorized_keys hard-linked to a file outside", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_keys_hardlink,
          EXPECT_OK, NULL, verify_keys_hardlink, false },
        { "/etc/machine-id hard-linked to a file outside", "", plant_machine_id_hardlink, EXPECT_OK, NULL, NULL,
          false },
        { "/etc/shadow hard-linked into another VM's root", "[Guest]\nPasswordHash=" HASH "\n",
          plant_shadow_hardlink_other_vm, EXPECT_OK, NULL, NULL, false },
        { "/etc/passwd -> /proc/self/root/etc/passwd", "[Guest]\nSSHAuthorizedKey=" KEY "\n",
          plant_passwd_proc_self_root, EXPECT_FAIL, "'/etc/passwd' in the VM root", NULL, false },
        { "/etc/systemd/network -> /proc/self/root/...", "[Network]\nDHCP=yes\n", plant_network_dir_proc_self_root,
          EXPECT_FAIL, "'/etc/systemd/network'", NULL, false },
        { "/etc/systemd -> absolute path outside", "[Network]\nDHCP=yes\n", plant_systemd_dir_absolute_outside,
          EXPECT_FAIL, "'/etc/systemd/network'", NULL, false },
        { "/etc/systemd -> another VM's root", "[Network]\nDHCP=yes\n", plant_systemd_dir_other_vm, EXPECT_FAIL,
          "'/etc/systemd/network'", NULL, false },
        { "/etc/hosts is a symlink loop", "", plant_hosts_loop, EXPECT_FAIL, "'/etc/hosts' in the VM root", NULL,
          false },
        { "/etc/systemd is a directory symlink loop", "", plant_dir_loop, EXPECT_FAIL, "'/etc/systemd/system'", NULL,
          false },
        { "/etc/shadow is a 10 GiB sparse file", "[Guest]\nPasswordHash=" HASH "\n", plant_sparse_shadow, EXPECT_FAIL,
          "'/etc/shadow' in the VM root", NULL, false },
        { "home directory /../../etc in passwd", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_home_dotdot, EXPECT_FAIL,
          "not a normalized absolute path", NULL, false },
        { "passwd with a 20 MiB line", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_passwd_huge_line, EXPECT_FAIL,
          "'/etc/passwd' in the VM root", NULL, false },
        { "passwd with a 2 MiB line before root's", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_passwd_long_gecos,
          EXPECT_OK, NULL, verify_keys_hardlink, false },
        { "/root -> absolute path outside", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_home_to_outside, EXPECT_FAIL,
          "'/root'", NULL, false },
        { "/root/.ssh is a regular file", "[Guest]\nSSHAuthorizedKey=" KEY "\n", plant_ssh_dir_is_file, EXPECT_FAIL,
          "'/root/.ssh' in the VM root", NULL, false },
        { "an SSH host key is a FIFO", "", plant_host_key_fifo, EXPECT_OK, "ssh_host_ed25519_key", NULL, false },
        { "/etc/fstab -> host /etc/fstab", "", plant_fstab_to_host, EXPECT_FAIL, "'/etc/fstab' in the VM root", NULL,
          false },
        { "a .wants directory is a file", "", plant_wants_dir_is_file, EXPECT_FAIL,
          "'/etc/systemd/system/multi-user.target.wants'", NULL, false },
        { "/etc/netplan -> absolute path outside", "[Network]\nDHCP=yes\n", plant_netplan_to_outside, EXPECT_FAIL,
          "'/etc/netplan' in the VM root", NULL, false },
        { "/etc/hostname hard-linked to a set-uid binary", "", plant_hostname_setuid_hardlink, EXPECT_OK, NULL,
          verify_hostname_not_setuid, false },
        { "/etc/fstab just under the read limit, longer once edited", "", plant_fstab_near_limit, EXPECT_OK,
          "Leaving '/etc/fstab'", verify_fstab_near_limit, false },
        { "/etc/hosts at the read limit", "", plant_hosts_at_limit, EXPECT_OK, "Leaving '/etc/hosts'",
          verify_hosts_at_limit, false },
        { "/etc/shadow contains a NUL byte", "[Guest]\nPasswordHash=" HASH "\n", plant_shadow_nul, EXPECT_FAIL,
          "NUL byte", NULL, false },
};

/* Host files a confused helper would hit first. */
static const char *const host_files[] = {
        "/etc/passwd", "/etc/shadow", "/etc/hostname", "/etc/hosts", "/etc/fstab", "/etc/machine-id", "/root/.ssh",
};

static char *snapshot_host(void) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        for (size_t i = 0; i < ELEMENTSOF(host_files); i++) {
                struct stat st;
                if (lstat(host_files[i], &st) < 0)
                        continue;
                _cleanup_free_ char *s = snapshot(host_files[i]);
                fputs(s, f);
        }
        fclose(f);
        return buf;
}

/* One layout tried on one editor: `run` returns < 0 when the edit failed. */
typedef struct Attack {
        const char *name;
        void (*plant)(const Tree *t);
        int (*run)(const Tree *t, const void *userdata);
        const void *userdata;
        Expect expect;
        const char *message; /* must appear in the log */
        void (*verify)(const Tree *t);
        bool needs_root;
} Attack;

typedef struct Running {
        const Attack *attack;
        const Tree *tree;
} Running;

static int run_running(void *userdata) {
        const Running *x = userdata;
        int r;

        /* A FIFO or socket that made us block would end here, as a failure. */
        alarm(60);
        r = x->attack->run(x->tree, x->attack->userdata);
        alarm(0);
        return r;
}

static void check_outcome(const Attack *k, int r, const char *log) {
        if (k->expect == EXPECT_FAIL && r >= 0)
                fprintf(stderr, "%s: expected a failure, got success\n", k->name);
        CHECK(k->expect != EXPECT_FAIL || r < 0);
        if (k->expect == EXPECT_OK && r < 0)
                fprintf(stderr, "%s: expected success, got %s\n", k->name, strerror(-r));
        CHECK(k->expect != EXPECT_OK || r >= 0);
        if (k->message && !strstr(log, k->message))
                fprintf(stderr, "%s: the log does not mention \"%s\"\n", k->name, k->message);
        CHECK(!k->message || strstr(log, k->message));
}

static void run_attack(const Attack *k) {
        _cleanup_free_ char *dir = tmpdir_new();
        _cleanup_free_ char *root = p2(dir, "root"), *base = p2(dir, "base"), *outside = p2(dir, "outside"),
                            *other = p2(dir, "other"), *log = NULL;
        char *before[4] = {}, *after[4] = {};
        const char *watched[] = { base, outside, other };
        Tree t = { dir, root, outside, other, base };
        int r;

        fprintf(stderr, "=== %s\n", k->name);
        if (k->needs_root && geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root\n");
                return;
        }

        base_debian_like(base);
        base_debian_like(root);
        base_debian_like(other);
        tree_write(outside, "hostname", "sentinel hostname\n");
        tree_write(outside, "machine-id", "sentinel machine-id\n");
        tree_write(outside, "keys", "ssh-ed25519 SENTINEL sentinel@outside\n");
        tree_write(outside, "dir/keep", "sentinel file\n");
        k->plant(&t);

        for (size_t i = 0; i < ELEMENTSOF(watched); i++)
                before[i] = snapshot(watched[i]);
        before[3] = snapshot_host();

        r = run_captured(run_running, &(Running) { k, &t }, &log);

        for (size_t i = 0; i < ELEMENTSOF(watched); i++) {
                after[i] = snapshot(watched[i]);
                CHECK_STREQ(after[i], before[i]);
        }
        after[3] = snapshot_host();
        CHECK_STREQ(after[3], before[3]);
        check_outcome(k, r, log);
        if (k->verify)
                k->verify(&t);

        for (size_t i = 0; i < ELEMENTSOF(before); i++) {
                free(before[i]);
                free(after[i]);
        }
        tmpdir_remove(dir);
}

/* ---- config-inject's writers ---------------------------------------------- */

static int run_inject(const Tree *t, const void *userdata) {
        const Case *k = userdata;
        _cleanup_free_ char *text = NULL;
        InjectContext c;
        VmDefinition *d;
        int r;

        if (asprintf(&text, "[VM]\nBase=%s\n%s", t->base, k->definition) < 0)
                abort();
        d = definition_new(t->dir, "vm1", text);
        context_init(&c, t->root, t->base, d);
        r = inject_all(&c);
        context_done(&c);
        vm_definition_free(d);
        return r;
}

static void run_inject_cases(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *k = cases + i;

                run_attack(&(Attack) { k->name, k->plant, run_inject, k, k->expect, k->message, k->verify,
                                       k->needs_root });
        }
}

/* A kernel without openat2() (< 5.6), made with a seccomp filter that
 * answers ENOSYS: opening the root must fail, before anything is touched. */
static void test_no_openat2(void) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };
        int status;
        pid_t pid;

        fprintf(stderr, "=== no openat2()\n");
        pid = fork();
        if (pid == 0) {
                int fd = -EBADF, r;

                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                        _exit(77);
                r = safe_fs_open_root("/", &fd);
                _exit(r == -ENOSYS && fd < 0 ? 0 : 1);
        }
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                fprintf(stderr, "SKIP: cannot install a seccomp filter\n");
        else
                CHECK(WEXITSTATUS(status) == 0);
}

/* ---- lib's guest-tree layer, as config-inject and mkbase-fixup use it ---- */

#define TREE_LABEL "the guest tree"

typedef struct TreeCase {
        const char *name;
        void (*plant)(const Tree *t);
        int (*op)(const GuestTree *g);
        Expect expect;
        const char *message;
        void (*verify)(const Tree *t);
        bool needs_root;
} TreeCase;

static int op_write_hostname(const GuestTree *g) {
        return guest_tree_write_text(g, "/etc/hostname", "vm1\n", 0644, getuid(), getgid(), 0);
}

static int op_read_shadow(const GuestTree *g) {
        _cleanup_free_ char *s = NULL;
        return guest_tree_read_text(g, "/etc/shadow", GUEST_TEXT_MAX, 0, &s, NULL);
}

static int op_read_passwd(const GuestTree *g) {
        _cleanup_free_ char *s = NULL;
        return guest_tree_read_text(g, "/etc/passwd", GUEST_TEXT_MAX, 0, &s, NULL);
}

/* mkbase-fixup's read of /etc/fstab: a link reads as no file, never as the
 * file it points to. */
static int op_read_fstab_link_ok(const GuestTree *g) {
        _cleanup_free_ char *s = NULL;
        int r = guest_tree_read_text(g, "/etc/fstab", GUEST_TEXT_MAX, GUEST_READ_MISSING_OK | GUEST_READ_LINK_OK, &s,
                                     NULL);
        return r < 0 ? r : s ? -EEXIST : 0;
}

static int op_enable_unit(const GuestTree *g) {
        return guest_tree_symlink(g, "../x.service", GUEST_MULTI_USER_WANTS "x.service");
}

static int op_remove_hostname(const GuestTree *g) {
        return guest_tree_remove(g, "/etc/hostname", "a test.");
}

/* What both programs do with host keys: list them, remove each. */
static int op_remove_host_keys(const GuestTree *g) {
        _cleanup_strv_free_ char **names = NULL;
        int r = guest_tree_list(g, "/etc/ssh", "ssh_host_", &names);

        STRV_FOREACH (n, names) {
                _cleanup_free_ char *path = p2("/etc/ssh", *n);
                if (r >= 0)
                        r = guest_tree_remove(g, path, "a test.");
        }
        return r;
}

static int op_hosts_absent(const GuestTree *g) {
        return guest_tree_exists(g, "/etc/hosts") ? -EEXIST : 0;
}

static int op_make_ssh_parent(const GuestTree *g) {
        return guest_tree_make_parent(g, "/root/.ssh/authorized_keys");
}

static int op_keygen_unit(const GuestTree *g) {
        return guest_files_install_keygen_unit(g, getuid(), getgid(), 0);
}

static int op_cloud_init(const GuestTree *g) {
        return guest_files_disable_cloud_init(g, getuid(), getgid(), 0);
}

static void plant_ssh_dir_to_outside_keys(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        tree_write(t->outside, "dir/ssh_host_ed25519_key", "OUTSIDE KEY\n");
        rm_rf(t->root, "etc/ssh");
        tree_symlink(t->root, "etc/ssh", target);
}
static void verify_host_keys_gone(const Tree *t) {
        CHECK(!tree_exists(t->root, "etc/ssh/ssh_host_ed25519_key"));
        CHECK(!tree_exists(t->root, "etc/ssh/ssh_host_ed25519_key.pub"));
}

static void plant_ssh_dir_dotdot(const Tree *t) {
        rm_rf(t->root, "etc/ssh");
        tree_symlink(t->root, "etc/ssh", "../../../../../../../../etc/ssh");
}

static void plant_cloud_to_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        tree_symlink(t->root, "etc/cloud", target);
}

static void plant_cloud_dir_is_file(const Tree *t) {
        tree_write(t->root, "etc/cloud", "a file\n");
}

static void verify_hostname_link_gone(const Tree *t) {
        CHECK(!tree_exists(t->root, "etc/hostname"));
}

static const TreeCase tree_cases[] = {
        { "write: /etc/hostname -> host /etc/passwd", plant_hostname_to_host_passwd, op_write_hostname, EXPECT_OK,
          "is a symbolic link; replacing", verify_hostname_replaced, false },
        { "write: /etc/hostname -> absolute path outside", plant_hostname_to_outside, op_write_hostname, EXPECT_OK,
          "'/etc/hostname' in " TREE_LABEL, verify_hostname_replaced, false },
        { "write: etc is a symlink to /", plant_etc_to_slash, op_write_hostname, EXPECT_OK, NULL, verify_etc_to_slash,
          false },
        { "write: etc is a ../../ chain", plant_etc_dotdot, op_write_hostname, EXPECT_FAIL, "symbolic link", NULL,
          false },
        { "write: /etc/hostname is a directory", plant_hostname_dir, op_write_hostname, EXPECT_FAIL,
          "'/etc/hostname' in " TREE_LABEL, verify_hostname_dir, false },
        { "write: /etc/hostname hard-linked to a set-uid binary", plant_hostname_setuid_hardlink, op_write_hostname,
          EXPECT_OK, NULL, verify_hostname_not_setuid, false },
        { "write: /etc/hostname hard-linked to a file outside", plant_machine_id_hardlink, op_write_hostname,
          EXPECT_OK, NULL, NULL, false },
        { "read: /etc/shadow is a FIFO", plant_shadow_fifo, op_read_shadow, EXPECT_FAIL,
          "'/etc/shadow' in " TREE_LABEL, NULL, false },
        { "read: /etc/shadow is a listening socket", plant_shadow_socket, op_read_shadow, EXPECT_FAIL,
          "not a regular file", NULL, false },
        { "read: /etc/shadow is /dev/null's device node", plant_shadow_device, op_read_shadow, EXPECT_FAIL,
          "not a regular file", NULL, true },
        { "read: /etc/shadow is a 10 GiB sparse file", plant_sparse_shadow, op_read_shadow, EXPECT_FAIL,
          "'/etc/shadow' in " TREE_LABEL, NULL, false },
        { "read: /etc/shadow contains a NUL byte", plant_shadow_nul, op_read_shadow, EXPECT_FAIL, "NUL byte", NULL,
          false },
        { "read: /etc/passwd -> /proc/self/root/etc/passwd", plant_passwd_proc_self_root, op_read_passwd, EXPECT_FAIL,
          "'/etc/passwd' in " TREE_LABEL, NULL, false },
        { "read, a link allowed: /etc/fstab -> host /etc/fstab", plant_fstab_to_host, op_read_fstab_link_ok, EXPECT_OK,
          NULL, NULL, false },
        { "symlink: /etc/systemd -> absolute path outside", plant_systemd_dir_absolute_outside, op_enable_unit,
          EXPECT_FAIL, "'/etc/systemd/system/multi-user.target.wants'", NULL, false },
        { "symlink: /etc/systemd -> another VM's root", plant_systemd_dir_other_vm, op_enable_unit, EXPECT_FAIL,
          "'/etc/systemd/system/multi-user.target.wants'", NULL, false },
        { "symlink: /etc/systemd is a directory symlink loop", plant_dir_loop, op_enable_unit, EXPECT_FAIL,
          "'/etc/systemd/system/multi-user.target.wants'", NULL, false },
        { "symlink: a .wants directory is a file", plant_wants_dir_is_file, op_enable_unit, EXPECT_FAIL,
          "'/etc/systemd/system/multi-user.target.wants'", NULL, false },
        { "remove: /etc/hostname -> absolute path outside", plant_hostname_to_outside, op_remove_hostname, EXPECT_OK,
          "Removed '/etc/hostname'", verify_hostname_link_gone, false },
        { "remove: /etc/hostname is a directory", plant_hostname_dir, op_remove_hostname, EXPECT_FAIL,
          "it is a directory", verify_hostname_dir, false },
        { "list and remove: host keys", plant_nothing, op_remove_host_keys, EXPECT_OK, NULL, verify_host_keys_gone,
          false },
        { "list and remove: /etc/ssh -> a directory outside", plant_ssh_dir_to_outside_keys, op_remove_host_keys,
          EXPECT_OK, NULL, NULL, false },
        { "list and remove: /etc/ssh is a ../../ chain", plant_ssh_dir_dotdot, op_remove_host_keys, EXPECT_FAIL,
          "'/etc/ssh' in " TREE_LABEL, NULL, false },
        { "list and remove: an SSH host key is a FIFO", plant_host_key_fifo, op_remove_host_keys, EXPECT_OK, NULL,
          verify_host_keys_gone, false },
        { "exists: /etc/hosts is a symlink loop", plant_hosts_loop, op_hosts_absent, EXPECT_OK, NULL, NULL, false },
        { "make parent: /root/.ssh is a regular file", plant_ssh_dir_is_file, op_make_ssh_parent, EXPECT_FAIL,
          "'/root/.ssh' in " TREE_LABEL, NULL, false },
        { "keygen unit: /etc/systemd -> absolute path outside", plant_systemd_dir_absolute_outside, op_keygen_unit,
          EXPECT_FAIL, "'/etc/systemd/system'", NULL, false },
        { "keygen unit: a .wants directory is a file", plant_wants_dir_is_file, op_keygen_unit, EXPECT_FAIL,
          "'/etc/systemd/system/multi-user.target.wants'", NULL, false },
        { "cloud-init: /etc/cloud -> a directory outside", plant_cloud_to_outside, op_cloud_init, EXPECT_OK, NULL,
          NULL, false },
        { "cloud-init: /etc/cloud is a file", plant_cloud_dir_is_file, op_cloud_init, EXPECT_FAIL, "'/etc/cloud'",
          NULL, false },
};

static int run_tree_op(const Tree *t, const void *userdata) {
        const TreeCase *k = userdata;
        GuestTree g = { .fd = -EBADF, .path = t->root, .label = TREE_LABEL };
        int r;

        if (safe_fs_open_root(t->root, &g.fd) < 0)
                abort();
        r = k->op(&g);
        safe_close(g.fd);
        return r;
}

static void run_tree_cases(void) {
        for (size_t i = 0; i < ELEMENTSOF(tree_cases); i++) {
                const TreeCase *k = tree_cases + i;

                run_attack(&(Attack) { k->name, k->plant, run_tree_op, k, k->expect, k->message, k->verify,
                                       k->needs_root });
        }
}

/* ---- mkbase-fixup, the binary ---------------------------------------------- */

static const char *mkbase_fixup;

typedef struct FixupCase {
        const char *name;
        void (*plant)(const Tree *t);
        const char *args[5]; /* after ROOT */
        Expect expect;
        const char *message;
        void (*verify)(const Tree *t);
} FixupCase;

static void plant_fixup_tree(const Tree *t) {
        tree_write(t->root, "usr/lib/systemd/system/systemd-journald.service", "[Unit]\n");
        tree_write(t->root, "etc/ssh/sshd_config.d", NULL);
        tree_write(t->root, "etc/cloud/cloud.cfg", "datasource_list: [ Ec2 ]\n");
}

static void plant_fixup_fstab_to_host(const Tree *t) {
        plant_fixup_tree(t);
        plant_fstab_to_host(t);
}
static void verify_fstab_replaced(const Tree *t) {
        _cleanup_free_ char *s = tree_read(t->root, "etc/fstab");
        CHECK(!tree_is_symlink_to(t->root, "etc/fstab", "/etc/fstab"));
        CHECK(s && strstr(s, "myfs / virtiofs defaults 0 0\n"));
}

static void plant_fixup_hostname_to_outside(const Tree *t) {
        plant_fixup_tree(t);
        plant_hostname_to_outside(t);
}

static void plant_fixup_ssh_to_outside(const Tree *t) {
        plant_fixup_tree(t);
        plant_ssh_dir_to_outside_keys(t);
}

static void plant_fixup_systemd_to_outside(const Tree *t) {
        plant_fixup_tree(t);
        plant_systemd_dir_absolute_outside(t);
}

static void plant_fixup_cloud_to_outside(const Tree *t) {
        plant_fixup_tree(t);
        rm_rf(t->root, "etc/cloud");
        plant_cloud_to_outside(t);
}

static void plant_dbus_machine_id_hardlink(const Tree *t) {
        plant_fixup_tree(t);
        tree_write(t->root, "var/lib/dbus", NULL);
        hardlink(t->outside, "machine-id", t->root, "var/lib/dbus/machine-id");
}
static void verify_dbus_machine_id_link(const Tree *t) {
        CHECK(tree_is_symlink_to(t->root, "var/lib/dbus/machine-id", "/etc/machine-id"));
}

static void plant_fixup_etc_dotdot(const Tree *t) {
        plant_fixup_tree(t);
        plant_etc_dotdot(t);
}

static void plant_modules_fifo(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/initramfs-tools/modules");
        tree_write(t->root, "etc/initramfs-tools", NULL);
        if (mkfifo(p, 0644) < 0)
                abort();
}

static void plant_modules_nul(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/initramfs-tools/modules");
        FILE *f;

        tree_write(t->root, "etc/initramfs-tools", NULL);
        f = fopen(p, "we");
        if (!f)
                abort();
        fwrite("fuse\n\0the rest of the guest's file\n", 1, 36, f);
        fclose(f);
}
static void verify_modules_kept(const Tree *t) {
        _cleanup_free_ char *p = p2(t->root, "etc/initramfs-tools/modules");
        struct stat st;
        CHECK(stat(p, &st) >= 0 && st.st_size == 36);
}

static void plant_boot_to_outside(const Tree *t) {
        _cleanup_free_ char *target = p2(t->outside, "dir");
        tree_symlink(t->root, "boot", target);
}
static const FixupCase fixup_cases[] = {
        { "fixup: /etc/fstab -> host /etc/fstab",
          plant_fixup_fstab_to_host,
          { "fixup" },
          EXPECT_OK,
          "'/etc/fstab' in the base tree",
          verify_fstab_replaced },
        { "fixup: /etc/hostname -> absolute path outside",
          plant_fixup_hostname_to_outside,
          { "fixup", "--hostname=vm1" },
          EXPECT_OK,
          NULL,
          verify_hostname_replaced },
        { "fixup: /etc/ssh -> a directory outside with a host key",
          plant_fixup_ssh_to_outside,
          { "fixup" },
          EXPECT_OK,
          NULL,
          NULL },
        { "fixup: /etc/systemd -> absolute path outside",
          plant_fixup_systemd_to_outside,
          { "fixup" },
          EXPECT_FAIL,
          "'/etc/systemd/system' in the base tree",
          NULL },
        { "fixup: /etc/cloud -> a directory outside",
          plant_fixup_cloud_to_outside,
          { "fixup" },
          EXPECT_OK,
          NULL,
          NULL },
        { "fixup: /var/lib/dbus/machine-id hard-linked to a file outside",
          plant_dbus_machine_id_hardlink,
          { "fixup" },
          EXPECT_OK,
          NULL,
          verify_dbus_machine_id_link },
        { "fixup: etc is a ../../ chain", plant_fixup_etc_dotdot, { "fixup" }, EXPECT_FAIL, "symbolic link", NULL },
        { "append-lines: the file is a FIFO",
          plant_modules_fifo,
          { "append-lines", "/etc/initramfs-tools/modules", "virtiofs" },
          EXPECT_FAIL,
          "not a regular file",
          NULL },
        { "append-lines: the file contains a NUL byte",
          plant_modules_nul,
          { "append-lines", "/etc/initramfs-tools/modules", "virtiofs" },
          EXPECT_FAIL,
          "NUL byte",
          verify_modules_kept },
        { "install: /boot -> a directory outside",
          plant_boot_to_outside,
          { "install", "/etc/passwd", "/boot/initrd.img", "0644" },
          EXPECT_FAIL,
          "'/boot' in the base tree",
          NULL },
        { "symlink: /boot -> a directory outside",
          plant_boot_to_outside,
          { "symlink", "vmlinuz-1", "/boot/vmlinuz" },
          EXPECT_FAIL,
          "'/boot' in the base tree",
          NULL },
        { "resolve: /etc/hostname -> absolute path outside",
          plant_hostname_to_outside,
          { "resolve", "/etc/hostname" },
          EXPECT_FAIL,
          "'/etc/hostname' in the base tree",
          NULL },
        { "write-id: etc is a symlink to /", plant_etc_to_slash, { "write-id", "0123-test" }, EXPECT_OK, NULL, NULL },
};

static int run_fixup(const Tree *t, const void *userdata) {
        const FixupCase *k = userdata;
        char *argv[2 + ELEMENTSOF(k->args) + 1] = { (char *) mkbase_fixup, (char *) t->root };

        for (size_t i = 0; i < ELEMENTSOF(k->args) && k->args[i]; i++)
                argv[2 + i] = (char *) k->args[i];
        return run_program(argv) == 0 ? 0 : -EPROTO;
}

static void run_fixup_cases(void) {
        for (size_t i = 0; i < ELEMENTSOF(fixup_cases); i++) {
                const FixupCase *k = fixup_cases + i;

                if (!mkbase_fixup) {
                        fprintf(stderr, "=== %s\nSKIP: no mkbase-fixup given\n", k->name);
                        continue;
                }
                /* Root: mkbase-fixup makes what it writes root's. */
                run_attack(&(Attack) { k->name, k->plant, run_fixup, k, k->expect, k->message, k->verify, true });
        }
}

int main(int argc, char *argv[]) {
        mkbase_fixup = argc > 1 ? argv[1] : NULL;
        run_inject_cases();
        run_tree_cases();
        run_fixup_cases();
        test_no_openat2();
        fprintf(stderr,
                "%zu hostile layouts for config-inject, %zu for the guest-tree layer, %zu for mkbase-fixup; %u failed "
                "checks\n",
                ELEMENTSOF(cases), ELEMENTSOF(tree_cases), ELEMENTSOF(fixup_cases), tests_failed);
        TESTS_EXIT();
}
