/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Hostile layouts a guest can leave in its root: config-inject must never
 * change anything outside the root, never block, and either do its job
 * inside the root or fail with a message that names the file.
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

#include "inject-test.h"
#include "macro.h"
#include "path-util.h"
#include "safe-fs.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one@host"
#define HASH "$6$saltsalt$0123456789abcdefABCDEF./"

typedef enum Expect {
        EXPECT_OK,   /* succeeds, confined to the root */
        EXPECT_FAIL, /* fails, and says why */
} Expect;

typedef struct Tree {
        const char *dir, *root, *outside, *other;
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

static void run_case(const Case *k) {
        _cleanup_free_ char *dir = tmpdir_new();
        _cleanup_free_ char *root = p2(dir, "root"), *base = p2(dir, "base"), *outside = p2(dir, "outside"),
                            *other = p2(dir, "other"), *text = NULL, *log = NULL;
        char *before[4] = {}, *after[4] = {};
        const char *watched[] = { base, outside, other };
        Tree t = { dir, root, outside, other };
        InjectContext c;
        VmDefinition *d;
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
        if (asprintf(&text, "[VM]\nBase=%s\n%s", base, k->definition) < 0)
                abort();
        d = definition_new(dir, "vm1", text);
        k->plant(&t);

        for (size_t i = 0; i < ELEMENTSOF(watched); i++)
                before[i] = snapshot(watched[i]);
        before[3] = snapshot_host();

        context_init(&c, root, base, d);
        /* A FIFO or socket that made us block would end here, as a failure. */
        alarm(60);
        r = inject_all_captured(&c, &log);
        alarm(0);
        context_done(&c);

        for (size_t i = 0; i < ELEMENTSOF(watched); i++) {
                after[i] = snapshot(watched[i]);
                CHECK_STREQ(after[i], before[i]);
        }
        after[3] = snapshot_host();
        CHECK_STREQ(after[3], before[3]);

        if (k->expect == EXPECT_FAIL && r >= 0) {
                fprintf(stderr, "%s: expected a failure, got success\n", k->name);
                tests_failed++;
        }
        if (k->expect == EXPECT_OK && r < 0) {
                fprintf(stderr, "%s: expected success, got %s\n", k->name, strerror(-r));
                tests_failed++;
        }
        if (k->message && !strstr(log, k->message)) {
                fprintf(stderr, "%s: the log does not mention \"%s\"\n", k->name, k->message);
                tests_failed++;
        }
        if (k->verify)
                k->verify(&t);

        for (size_t i = 0; i < ELEMENTSOF(before); i++) {
                free(before[i]);
                free(after[i]);
        }
        vm_definition_free(d);
        tmpdir_remove(dir);
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

int main(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                run_case(cases + i);
        test_no_openat2();
        fprintf(stderr, "%zu hostile layouts, %u failed checks\n", ELEMENTSOF(cases), tests_failed);
        TESTS_EXIT();
}
