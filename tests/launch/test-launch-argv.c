/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The hypervisors' command lines, against the documented syntax: Cloud
 * Hypervisor's --help as captured in tests/launch/data's reference run, and
 * QEMU 7.2's options as the integration test boots them. */

#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch-config.h"
#include "strv.h"
#include "tests.h"

static LaunchConfig config(void) {
        LaunchConfig c = LAUNCH_CONFIG_NULL;

        c.name = "web";
        c.kernel = "/var/lib/cowvm/bases/deb/boot/vmlinuz";
        c.initrd = "/var/lib/cowvm/bases/deb/boot/initrd.img";
        c.cmdline = "console=ttyS0 root=myfs rootfstype=virtiofs rw quiet";
        c.cpus = 2;
        c.memory = 512ULL << 20;
        c.virtiofsd_socket = "/run/cowvm/web/virtiofsd.sock";
        c.uuid = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
        return c;
}

/* A field the caller must set and did not is a programming error: the
 * builder asserts (in a child, so that the test goes on). */
static bool build_aborts(int (*build)(const LaunchConfig *c, char ***ret), const LaunchConfig *c) {
        pid_t pid;
        int st;

        fflush(stderr);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
                char **a = NULL;

                (void) build(c, &a);
                _exit(0);
        }
        CHECK(waitpid(pid, &st, 0) == pid);
        return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void test_cloud_hypervisor(void) {
        _cleanup_strv_free_ char **a = NULL;
        LaunchConfig c = config();
        char *s;

        c.binary = "/usr/bin/cloud-hypervisor";
        c.api_socket = "/run/cowvm/web/api.sock";
        c.serial_socket = "/run/cowvm/web/serial.sock";
        c.event_monitor_fd = 3;
        CHECK(ch_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK_STREQ(s, "/usr/bin/cloud-hypervisor"
                       "|--kernel|/var/lib/cowvm/bases/deb/boot/vmlinuz"
                       "|--initramfs|/var/lib/cowvm/bases/deb/boot/initrd.img"
                       "|--cmdline|console=ttyS0 root=myfs rootfstype=virtiofs rw quiet"
                       "|--cpus|boot=2"
                       "|--memory|size=512M,shared=on" /* vhost-user needs shared memory */
                       "|--fs|tag=myfs,socket=/run/cowvm/web/virtiofsd.sock"
                       "|--serial|socket=/run/cowvm/web/serial.sock"
                       "|--console|tty"
                       "|--api-socket|path=/run/cowvm/web/api.sock"
                       "|--event-monitor|fd=3"
                       "|--platform|system_uuid=0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"
                       "|--seccomp|true"); /* help.txt: [possible values: true, false, log, errno] */
        free(s);
        a = strv_free(a);

        /* No initrd; a size that is not whole MiB is given in bytes. */
        c.initrd = NULL;
        c.memory = (512ULL << 20) + 4096;
        CHECK(ch_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(!strstr(s, "--initramfs"));
        CHECK(strstr(s, "|--memory|size=536875008,shared=on|"));
        free(s);
        a = strv_free(a);

        /* As ch-launch runs it: every path through an inherited fd. */
        c.kernel = "/proc/self/fd/3";
        c.initrd = "/proc/self/fd/4";
        c.api_socket = "/proc/self/fd/6/api.sock";
        c.serial_socket = "/proc/self/fd/6/serial.sock";
        c.virtiofsd_socket = "/proc/self/fd/7";
        c.event_monitor_fd = 5;
        CHECK(ch_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(strstr(s, "|--kernel|/proc/self/fd/3|--initramfs|/proc/self/fd/4|"));
        CHECK(strstr(s, "|--fs|tag=myfs,socket=/proc/self/fd/7|--serial|socket=/proc/self/fd/6/serial.sock|"
                        "--console|tty|--api-socket|path=/proc/self/fd/6/api.sock|--event-monitor|fd=5|"));
        free(s);
        a = strv_free(a);
        c.virtiofsd_socket = "/run/cowvm/web/virtiofsd.sock";

        /* CH splits option values at ','. */
        c.api_socket = "/run/a,b/api.sock";
        CHECK(ch_build_argv(&c, &a) == -EINVAL);
        c.api_socket = "/run/cowvm/web/api.sock";
        c.event_monitor_fd = -1;
        CHECK(build_aborts(ch_build_argv, &c));
}

static void test_qemu(void) {
        _cleanup_strv_free_ char **a = NULL;
        LaunchConfig c = config();
        char *s;

        c.binary = "/usr/bin/qemu-system-x86_64";
        c.vhost_user_fd = 3;
        c.qmp_fd = 4;
        c.serial_fd = 5;
        c.notify_fd = 6;
        CHECK(qemu_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK_STREQ(s, "/usr/bin/qemu-system-x86_64|-name|web|-nodefaults|-no-user-config|-display|none"
                       "|-accel|tcg|-cpu|max"
                       "|-smp|2|-m|512M"
                       "|-object|memory-backend-memfd,id=mem,size=512M,share=on|-numa|node,memdev=mem"
                       "|-kernel|/var/lib/cowvm/bases/deb/boot/vmlinuz"
                       "|-initrd|/var/lib/cowvm/bases/deb/boot/initrd.img"
                       "|-append|console=ttyS0 root=myfs rootfstype=virtiofs rw quiet"
                       "|-chardev|socket,id=vfs,fd=3|-device|vhost-user-fs-pci,chardev=vfs,tag=myfs"
                       "|-chardev|socket,id=serial0,fd=5|-serial|chardev:serial0"
                       "|-device|virtio-serial-pci,id=vser0|-chardev|socket,id=notify,fd=6"
                       "|-device|virtconsole,bus=vser0.0,chardev=notify"
                       "|-chardev|socket,id=qmp,fd=4|-mon|chardev=qmp,mode=control"
                       "|-smbios|type=1,uuid=0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"
                       /* its seccomp filter, everything denied that it does not need */
                       "|-sandbox|on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        free(s);
        a = strv_free(a);

        /* KVM: -cpu host; memory rounded up to whole MiB for the memfd backend. */
        c.kvm = true;
        c.memory = (256ULL << 20) + 1;
        c.initrd = NULL;
        CHECK(qemu_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(strstr(s, "|-accel|kvm|-cpu|host|"));
        CHECK(strstr(s, "|-m|257M|"));
        CHECK(strstr(s, "memory-backend-memfd,id=mem,size=257M,share=on"));
        CHECK(!strstr(s, "-initrd"));
        free(s);
        a = strv_free(a);

        /* As ch-launch runs it: the kernel and initrd are fds it opened. */
        c.kernel = "/proc/self/fd/7";
        c.initrd = "/proc/self/fd/8";
        CHECK(qemu_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(strstr(s, "|-kernel|/proc/self/fd/7|-initrd|/proc/self/fd/8|-append|"));
        CHECK(strstr(s, "|-sandbox|on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
        free(s);
        a = strv_free(a);

        c.kernel = "/boot/a,b";
        CHECK(qemu_build_argv(&c, &a) == -EINVAL);
        c.kernel = "/boot/vmlinuz";
        c.qmp_fd = -1;
        CHECK(build_aborts(qemu_build_argv, &c));
}

/* A NIC: the tap ch-launch created, passed as an fd, with the guest's MAC. */
static void test_nic(void) {
        _cleanup_strv_free_ char **a = NULL;
        LaunchConfig c = config();
        char *s;

        c.net_fd = 7;
        c.mac = "02:5e:1a:00:be:ef";

        c.binary = "/usr/bin/qemu-system-x86_64";
        c.vhost_user_fd = 3;
        c.qmp_fd = 4;
        c.serial_fd = 5;
        c.notify_fd = 6;
        CHECK(qemu_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(strstr(s, "|-device|vhost-user-fs-pci,chardev=vfs,tag=myfs"
                        "|-netdev|tap,id=net0,fd=7"
                        "|-device|virtio-net-pci,netdev=net0,mac=02:5e:1a:00:be:ef,romfile="
                        "|-chardev|socket,id=serial0,fd=5|"));
        free(s);
        a = strv_free(a);

        c.binary = "/usr/bin/cloud-hypervisor";
        c.api_socket = "/run/cowvm/web/api.sock";
        c.serial_socket = "/run/cowvm/web/serial.sock";
        c.event_monitor_fd = 3;
        CHECK(ch_build_argv(&c, &a) == 0);
        s = argv_join(a);
        /* help.txt: --net "...,mac=<mac_addr>,fd=<[fd1,fd2,...]>,..." */
        CHECK(strstr(s, "|--fs|tag=myfs,socket=/run/cowvm/web/virtiofsd.sock"
                        "|--net|fd=[7],mac=02:5e:1a:00:be:ef"
                        "|--serial|"));
        free(s);
        a = strv_free(a);

        /* An fd without a MAC, or a MAC that would split the option list. */
        c.mac = NULL;
        CHECK(build_aborts(ch_build_argv, &c));
        c.binary = "/usr/bin/qemu-system-x86_64";
        CHECK(build_aborts(qemu_build_argv, &c));
        c.mac = "02:00:00:00:00:01,romfile=/x";
        CHECK(qemu_build_argv(&c, &a) == -EINVAL);
}

/* No NIC unless asked: neither command line has a network device then
 * (QEMU's -nodefaults drops its default user-mode NIC). */
static void test_no_nic(void) {
        _cleanup_strv_free_ char **a = NULL;
        LaunchConfig c = config();
        char *s;

        c.binary = "/usr/bin/qemu-system-x86_64";
        c.vhost_user_fd = 3;
        c.qmp_fd = 4;
        c.serial_fd = 5;
        c.notify_fd = 6;
        c.mac = "02:5e:1a:00:be:ef";
        CHECK(qemu_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(strstr(s, "|-nodefaults|"));
        CHECK(!strstr(s, "-netdev") && !strstr(s, "virtio-net"));
        free(s);
        a = strv_free(a);

        c.binary = "/usr/bin/cloud-hypervisor";
        c.api_socket = "/run/cowvm/web/api.sock";
        c.serial_socket = "/run/cowvm/web/serial.sock";
        c.event_monitor_fd = 3;
        CHECK(ch_build_argv(&c, &a) == 0);
        s = argv_join(a);
        CHECK(!strstr(s, "--net"));
        free(s);
}

int main(void) {
        test_cloud_hypervisor();
        test_qemu();
        test_nic();
        test_no_nic();
        TESTS_EXIT();
}
