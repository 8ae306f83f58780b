/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The limits overlay-prepare sets on vm@NAME and virtiofsd@NAME, from the
 * definitions of the generator's "limits" and "ephemeral" cases (the
 * directory and the case are the arguments: one case a run, since the
 * definition path is read once a process). */

#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "tests.h"
#include "vm-definition.h"
#include "vm-limits.h"

#define M (1024ULL * 1024)
#define G (1024 * M)

static void limits_of(const char *dir, const char *name, VmLimits *ret) {
        _cleanup_vm_definition_free_ VmDefinition *defaults = NULL, *d = NULL;
        char path[4096];

        REQUIRE(setenv("COWVM_DEFINITION_PATH", dir, 1) == 0);
        REQUIRE(vm_defaults_load(&defaults) >= 0);
        (void) snprintf(path, sizeof path, "%s/%s.vm", dir, name);
        REQUIRE(vm_definition_parse(name, path, defaults, &d) >= 0);
        vm_limits_compute(d, ret);
}

static void test_limits(const char *cases) {
        char dir[4096];
        VmLimits l;

        (void) snprintf(dir, sizeof dir, "%s/limits/input/etc", cases);

        /* cowvm.conf: MemoryOverhead=128M TasksMax=1024 CPUWeight=50 CPUQuota=150% */
        limits_of(dir, "conf", &l);
        CHECK(l.vm.memory_max == 1 * G + 128 * M);
        CHECK(l.vm.tasks_max == 1024 && l.vm.cpu_weight == 50);
        CHECK(l.vm.cpu_quota_usec == 1500000);
        CHECK(l.virtiofsd.memory_max == 128 * M);
        CHECK(l.virtiofsd.tasks_max == 1024 && l.virtiofsd.cpu_weight == 50);
        CHECK(l.virtiofsd.cpu_quota_usec == UINT64_MAX); /* CPUQuota= is the guest's */

        /* Its own keys over cowvm.conf; MemoryOverhead=0 leaves virtiofsd
         * its floor, CPUQuota= empty removes the quota. */
        limits_of(dir, "own", &l);
        CHECK(l.vm.memory_max == 256 * M);
        CHECK(l.vm.tasks_max == 64 && l.vm.cpu_weight == 10000);
        CHECK(l.vm.cpu_quota_usec == UINT64_MAX);
        CHECK(l.virtiofsd.memory_max == 64 * M);

        /* Ephemeral, 2G, overhead 1G: the tmpfs (as large as Memory=) is
         * written by virtiofsd; TasksMax= follows the CPUs and threads. */
        limits_of(dir, "big", &l);
        CHECK(l.vm.memory_max == 3 * G);
        CHECK(l.virtiofsd.memory_max == 3 * G);
        CHECK(l.vm.tasks_max == 1352);
}

static void test_ephemeral(const char *cases) {
        char dir[4096];
        VmLimits l;

        (void) snprintf(dir, sizeof dir, "%s/ephemeral/input/etc", cases);
        limits_of(dir, "scratch", &l); /* Memory=512M by default, so the tmpfs too */
        CHECK(l.vm.memory_max == 512 * M + 256 * M);
        CHECK(l.virtiofsd.memory_max == 256 * M + 512 * M);
        CHECK(l.vm.tasks_max == 512 && l.vm.cpu_weight == 100);
        limits_of(dir, "sized", &l); /* DiskSize=64M sizes the tmpfs */
        CHECK(l.vm.memory_max == 1 * G + 256 * M);
        CHECK(l.virtiofsd.memory_max == 256 * M + 64 * M);
}

int main(int argc, char *argv[]) {
        REQUIRE(argc == 3);
        if (streq(argv[2], "limits"))
                test_limits(argv[1]);
        else
                test_ephemeral(argv[1]);
        TESTS_EXIT();
}
