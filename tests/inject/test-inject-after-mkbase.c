/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A VM's first start on a base made by cowvm-mkbase: mkbase-fixup (the real
 * binary) adjusts a Debian-like tree, then config-inject's writers run on
 * that very tree, which is what a VM's merged root shows before its first
 * write. They must change only what is the VM's own (its names, machine-id,
 * readiness unit); every file mkbase-fixup already wrote as config-inject
 * would (fstab, the SSH keygen unit and its link, the cloud-init marker) is
 * left as it is, so nothing of the base is copied up into the VM's upper
 * layer.
 *
 * test-inject-after-mkbase MKBASE-FIXUP. Root only: mkbase-fixup makes a
 * base's files root's.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject-test.h"
#include "macro.h"
#include "path-util.h"

/* What a VM's start rightly writes over a fresh base. */
static const char *const vm_own[] = {
        "/etc/hostname",
        "/etc/hosts",
        "/etc/machine-id",
        "/etc/systemd/system/cowvm-ready.service",
        "/etc/systemd/system/multi-user.target.wants/cowvm-ready.service",
        "/etc/systemd/system/serial-getty@hvc0.service",
};

/* What mkbase-fixup writes that config-inject writes too. */
static const char *const shared[] = {
        "/etc/fstab",
        "/etc/systemd/system/cowvm-ssh-keygen.service",
        "/etc/systemd/system/multi-user.target.wants/cowvm-ssh-keygen.service",
        "/etc/cloud/cloud-init.disabled",
};

static bool is_vm_own(const char *path, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(vm_own); i++)
                if (strlen(vm_own[i]) == len && strncmp(vm_own[i], path, len) == 0)
                        return true;
        return false;
}

/* Lines of snapshot `a` (one a file: "PATH MODE ...") that `b` lacks and
 * that are neither a directory (their size follows their entries) nor one
 * of the VM's own files. */
static unsigned foreign_changes(const char *a, const char *b) {
        unsigned n = 0;

        for (const char *l = a; *l;) {
                size_t len = strcspn(l, "\n"), path_len = strcspn(l, " ");
                _cleanup_free_ char *line = strndup(l, len);
                const char *mode = l + path_len + 1;

                if (!strstr(b, line) && strncmp(mode, "40", 2) != 0 && !is_vm_own(l, path_len)) {
                        fprintf(stderr, "changed by the VM's first start: %s\n", line);
                        n++;
                }
                l += len + (l[len] == '\n');
        }
        return n;
}

static void base_for_mkbase(const char *dir) {
        base_debian_like(dir);
        tree_write(dir, "usr/lib/systemd/system/systemd-journald.service", "[Unit]\n");
        tree_write(dir, "usr/lib/systemd/system/serial-getty@.service", "[Unit]\n");
        tree_write(dir, "etc/ssh/sshd_config.d", NULL);
        tree_write(dir, "etc/cloud/cloud.cfg", "datasource_list: [ Ec2 ]\n");
}

static void check_unchanged(const char *base, const char *rel, const struct stat *before) {
        _cleanup_free_ char *p = path_join(base, rel);
        struct stat st;

        CHECK(lstat(p, &st) >= 0);
        if (st.st_ino != before->st_ino || st.st_mtim.tv_sec != before->st_mtim.tv_sec ||
            st.st_mtim.tv_nsec != before->st_mtim.tv_nsec)
                fprintf(stderr, "'%s' was rewritten by the VM's first start\n", rel);
        CHECK(st.st_ino == before->st_ino && st.st_mtim.tv_sec == before->st_mtim.tv_sec &&
              st.st_mtim.tv_nsec == before->st_mtim.tv_nsec);
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *dir = NULL, *base = NULL, *text = NULL, *log = NULL, *before = NULL, *after = NULL;
        struct stat st[ELEMENTSOF(shared)] = {};
        InjectContext c;
        VmDefinition *d;

        if (argc != 2) {
                fprintf(stderr, "usage: %s MKBASE-FIXUP\n", argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (mkbase-fixup makes the base's files root's)\n");
                return 77;
        }
        dir = tmpdir_new();
        base = path_join(dir, "base");
        base_for_mkbase(base);
        CHECK(run_program((char *const[]) { argv[1], base, (char *) "fixup", (char *) "--hostname=debian-12",
                                            NULL }) == 0);
        for (size_t i = 0; i < ELEMENTSOF(shared); i++) {
                _cleanup_free_ char *p = path_join(base, shared[i]);
                if (lstat(p, &st[i]) < 0)
                        fprintf(stderr, "mkbase-fixup did not write '%s'\n", shared[i]);
                CHECK(st[i].st_ino != 0);
        }

        if (asprintf(&text, "[VM]\nBase=%s\n", base) < 0)
                abort();
        d = definition_new(dir, "vm1", text);
        before = snapshot(base);
        context_init(&c, base, base, d);
        CHECK(inject_all_captured(&c, &log) >= 0);
        context_done(&c);
        after = snapshot(base);

        CHECK(foreign_changes(before, after) == 0);
        CHECK(foreign_changes(after, before) == 0);
        for (size_t i = 0; i < ELEMENTSOF(shared); i++)
                check_unchanged(base, shared[i], &st[i]);

        vm_definition_free(d);
        tmpdir_remove(dir);
        TESTS_EXIT();
}
