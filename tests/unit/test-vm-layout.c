/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The host layout of a VM, as the units (/run/cowvm/%i/...), the system
 * tests' vm_path and the documentation spell it. */

#include <stdlib.h>

#include "tests.h"
#include "vm-layout.h"

static void test_persistent(void) {
        _cleanup_(vm_layout_done) VmLayout l = {};

        CHECK(vm_layout_make("web", false, &l) == 0);
        CHECK_STREQ(l.state_dir, "/var/lib/cowvm/vms/web");
        CHECK_STREQ(l.base_record, "/var/lib/cowvm/vms/web/base");
        CHECK_STREQ(l.upper_dir, "/var/lib/cowvm/vms/web/upper");
        CHECK_STREQ(l.work_dir, "/var/lib/cowvm/vms/web/work");
        CHECK_STREQ(l.runtime_dir, "/run/cowvm/web");
        CHECK_STREQ(l.root_dir, "/run/cowvm/web/root");
        CHECK_STREQ(l.virtiofsd_socket, "/run/cowvm/web/virtiofsd.sock");
        CHECK_STREQ(l.vmm_dir, "/run/cowvm/web/vmm");
        CHECK_STREQ(l.ephemeral_dir, "/run/cowvm/web/ephemeral");
}

static void test_ephemeral(void) {
        _cleanup_(vm_layout_done) VmLayout l = {};

        /* Never the persistent upper's path: flipping Ephemeral= on cannot
         * hide or discard a disk. The rest is the same. */
        CHECK(vm_layout_make("eph", true, &l) == 0);
        CHECK_STREQ(l.upper_dir, "/run/cowvm/eph/ephemeral/upper");
        CHECK_STREQ(l.work_dir, "/run/cowvm/eph/ephemeral/work");
        CHECK_STREQ(l.state_dir, "/var/lib/cowvm/vms/eph");
        CHECK_STREQ(l.root_dir, "/run/cowvm/eph/root");
}

static void test_host_dirs(void) {
        _cleanup_free_ char *b = vm_layout_base_dir("debian-12"), *abs = vm_layout_base_dir("/srv/tree"),
                            *bases = vm_layout_bases_dir(), *vms = vm_layout_vms_dir(), *uid = vm_layout_uid_dir();

        CHECK_STREQ(b, "/var/lib/cowvm/bases/debian-12");
        CHECK_STREQ(abs, "/srv/tree");
        CHECK_STREQ(bases, "/var/lib/cowvm/bases");
        CHECK_STREQ(vms, "/var/lib/cowvm/vms");
        CHECK_STREQ(uid, "/run/cowvm/.uid");
}

static void test_environment(void) {
        _cleanup_(vm_layout_done) VmLayout l = {};

        CHECK(setenv("COWVM_STATE_DIR", "/tmp/s", 1) == 0);
        CHECK(setenv("COWVM_RUNTIME_DIR", "/tmp/r", 1) == 0);
        CHECK(vm_layout_make("a", false, &l) == 0);
        CHECK_STREQ(l.upper_dir, "/tmp/s/vms/a/upper");
        CHECK_STREQ(l.root_dir, "/tmp/r/a/root");
        /* Empty is unset. */
        CHECK(setenv("COWVM_STATE_DIR", "", 1) == 0);
        CHECK_STREQ(cowvm_state_dir(), "/var/lib/cowvm");
        CHECK(unsetenv("COWVM_STATE_DIR") == 0 && unsetenv("COWVM_RUNTIME_DIR") == 0);
}

int main(void) {
        (void) unsetenv("COWVM_STATE_DIR");
        (void) unsetenv("COWVM_RUNTIME_DIR");
        test_persistent();
        test_ephemeral();
        test_host_dirs();
        test_environment();
        TESTS_EXIT();
}
