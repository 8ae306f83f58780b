/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The hypervisor's per-VM uid: derived from the name, inside its range,
 * probed linearly past ids that are taken (by NSS or by another VM's lock),
 * a lock whose holder died is taken over, a released one is gone. */

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "tests.h"
#include "vm-uid.h"

static uid_t taken_uid = (uid_t) -1;

static bool taken(uid_t u) {
        return u == taken_uid;
}

static char *read_file(const char *path) {
        static char buf[128];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k;

        CHECK(fd >= 0);
        k = read(fd, buf, sizeof buf - 1);
        CHECK(k >= 0);
        buf[k] = 0;
        close(fd);
        return buf;
}

static void test_candidates(void) {
        const char *names[] = { "web", "db", "a", "a-very-long-vm-name-0123456789", "web2" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                uid_t first = vm_uid_candidate(names[i], 0);

                /* Stable, in range, never root-like, wrapping inside the range. */
                CHECK(first == vm_uid_candidate(names[i], 0));
                CHECK(vm_uid_in_range(first));
                CHECK(first >= 524288);
                for (unsigned a = 1; a < 3; a++)
                        CHECK(vm_uid_candidate(names[i], a) == VM_UID_MIN + (first - VM_UID_MIN + a) % VM_UID_COUNT);
                CHECK(vm_uid_candidate(names[i], VM_UID_COUNT) == first);
        }
        CHECK(vm_uid_candidate("web", 0) != vm_uid_candidate("db", 0));
        CHECK(!vm_uid_in_range(VM_UID_MIN - 1) && !vm_uid_in_range(VM_UID_MAX + 1));
        /* Beyond systemd's DynamicUser= range, below its unused and foreign ranges. */
        CHECK(VM_UID_MIN > 65535 && VM_UID_MAX < 0x70000000U);
}

static void test_acquire(const char *dir) {
        VmUid a = VM_UID_NULL, b = VM_UID_NULL, c = VM_UID_NULL;
        char path[256];
        int status;
        pid_t pid;

        CHECK(vm_uid_acquire(dir, "web", taken, &a) == 0);
        CHECK(a.uid == vm_uid_candidate("web", 0));
        CHECK_STREQ(read_file(a.lock_path), "web\n");

        /* Another VM whose first candidate is held: the next one. A lock
         * file's name alone decides, whatever VM it names. */
        (void) snprintf(path, sizeof path, "%s/%u", dir, (unsigned) vm_uid_candidate("db", 0));
        if (vm_uid_candidate("db", 0) != a.uid) {
                int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                CHECK(fd >= 0);
                CHECK(flock(fd, LOCK_EX) == 0);
                CHECK(vm_uid_acquire(dir, "db", taken, &b) == 0);
                CHECK(b.uid == vm_uid_candidate("db", 1));
                vm_uid_release(&b);
                close(fd); /* the holder dies: the lock is stale now */
                CHECK(vm_uid_acquire(dir, "db", taken, &b) == 0);
                CHECK(b.uid == vm_uid_candidate("db", 0));
                CHECK_STREQ(read_file(path), "db\n");
                vm_uid_release(&b);
        }

        /* The same VM again while the first holds its id (a second
         * ch-launch): never the same id twice. */
        CHECK(vm_uid_acquire(dir, "web", taken, &b) == 0);
        CHECK(b.uid == vm_uid_candidate("web", 1));
        vm_uid_release(&b);

        /* An id NSS knows is skipped. */
        taken_uid = vm_uid_candidate("mail", 0);
        CHECK(vm_uid_acquire(dir, "mail", taken, &c) == 0);
        CHECK(c.uid == vm_uid_candidate("mail", 1));
        taken_uid = (uid_t) -1;
        vm_uid_release(&c);

        /* A holder killed with SIGKILL leaves its file; the next start of
         * the VM takes it over. */
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
                VmUid k = VM_UID_NULL;
                if (vm_uid_acquire(dir, "killed", taken, &k) < 0)
                        _exit(1);
                (void) kill(getpid(), SIGKILL);
                _exit(2);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
        (void) snprintf(path, sizeof path, "%s/%u", dir, (unsigned) vm_uid_candidate("killed", 0));
        CHECK(access(path, F_OK) == 0);
        CHECK(vm_uid_acquire(dir, "killed", taken, &c) == 0);
        CHECK(c.uid == vm_uid_candidate("killed", 0));
        vm_uid_release(&c);
        CHECK(access(path, F_OK) < 0);

        /* A stale lock whose hypervisor still runs (ch-launch was killed,
         * the parent-death signal not yet delivered) is not taken over. */
        if (geteuid() == 0) {
                uid_t g = vm_uid_candidate("ghost", 0);
                int fd, p[2];
                char x;

                (void) snprintf(path, sizeof path, "%s/%u", dir, (unsigned) g);
                fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                CHECK(fd >= 0);
                close(fd);
                CHECK(pipe(p) == 0);
                pid = fork();
                REQUIRE(pid >= 0);
                if (pid == 0) {
                        if (setresgid(g, g, g) < 0 || setresuid(g, g, g) < 0 ||
                            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) /* as after its execve */
                                _exit(1);
                        if (write(p[1], "x", 1) != 1)
                                _exit(1);
                        pause();
                        _exit(0);
                }
                close(p[1]);
                CHECK(read(p[0], &x, 1) == 1);
                close(p[0]);
                CHECK(vm_uid_acquire(dir, "ghost", taken, &c) == 0);
                CHECK(c.uid == vm_uid_candidate("ghost", 1));
                vm_uid_release(&c);
                CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid);
                CHECK(vm_uid_acquire(dir, "ghost", taken, &c) == 0);
                CHECK(c.uid == g);
                vm_uid_release(&c);
        }

        /* Released: the file is gone. */
        (void) snprintf(path, sizeof path, "%s", a.lock_path);
        vm_uid_release(&a);
        CHECK(access(path, F_OK) < 0 && a.lock_fd < 0);
        vm_uid_release(&a); /* twice is harmless */
        /* The last one out removes the directory. */
        CHECK(access(dir, F_OK) < 0);
}

int main(void) {
        char dir[] = "/tmp/test-vm-uid.XXXXXX", sub[64];

        test_candidates();
        CHECK(mkdtemp(dir));
        (void) snprintf(sub, sizeof sub, "%s/.uid", dir);
        test_acquire(sub);
        (void) rmdir(dir);
        TESTS_EXIT();
}
