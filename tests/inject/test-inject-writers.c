/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Each writer of config-inject on plain temporary trees: a Debian-like base
 * with systemd-networkd, a netplan base, a base without sshd, a base with
 * cloud-init; and that a second run changes nothing at all. */

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject-test.h"
#include "macro.h"
#include "path-util.h"
#include "vm-identity.h"

#define KEY1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one@host"
#define KEY2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBgyRoXDZc0wrfrXJIYWRPFdU0AWtczC6jYBDNeXCgal two@host"
#define HASH "$6$saltsalt$0123456789abcdefABCDEF./"

typedef struct Fixture {
        char *dir, *base, *root;
        VmDefinition *def;
        InjectContext c;
} Fixture;

static void fixture_setup(Fixture *f, const char *extra_definition) {
        _cleanup_free_ char *text = NULL;

        f->dir = tmpdir_new();
        f->base = path_join(f->dir, "base");
        f->root = path_join(f->dir, "root");
        base_debian_like(f->base);
        /* Without an overlay, the root starts as an identical copy. */
        base_debian_like(f->root);
        if (asprintf(&text, "[VM]\nBase=%s\n%s", f->base, extra_definition) < 0)
                abort();
        f->def = definition_new(f->dir, "vm1", text);
        context_init(&f->c, f->root, f->base, f->def);
}

static void fixture_done(Fixture *f) {
        context_done(&f->c);
        vm_definition_free(f->def);
        tmpdir_remove(f->dir);
        free(f->dir);
        free(f->base);
        free(f->root);
}

static mode_t mode_of(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_join(dir, rel);
        struct stat st;

        return lstat(p, &st) < 0 ? (mode_t) -1 : st.st_mode & 07777;
}

static void check_contains(const char *dir, const char *rel, const char *needle) {
        _cleanup_free_ char *s = tree_read(dir, rel);

        if (!s || !strstr(s, needle)) {
                fprintf(stderr, "'%s' does not contain '%s':\n%s\n", rel, needle, s ?: "(unreadable)");
                tests_failed++;
        }
}

static void test_networkd_base(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL, *shadow = NULL, *snap1 = NULL, *snap2 = NULL;
        char id[33], expected[40];

        fixture_setup(&f, "[Guest]\nHostname=vm1.example.org\nPasswordHash=" HASH "\nSSHAuthorizedKey=" KEY1 "\n"
                          "SSHAuthorizedKey=" KEY2 "\n"
                          "[Network]\nMAC=02:00:00:aa:bb:0c\nAddress=192.168.10.2/24\nAddress=fd00::2/64\n"
                          "Gateway=192.168.10.1\nDNS=192.168.10.1\n");
        tree_write(f.root, "root/.ssh/authorized_keys", "ssh-rsa AAAAguest own@guest\n");

        CHECK(inject_all_captured(&f.c, &log) == 0);

        _cleanup_free_ char *hostname = tree_read(f.root, "etc/hostname");
        CHECK_STREQ(hostname, "vm1.example.org\n");
        _cleanup_free_ char *hosts = tree_read(f.root, "etc/hosts");
        CHECK_STREQ(hosts, "127.0.0.1\tlocalhost\n127.0.1.1\tvm1.example.org vm1\n"
                           "::1\t\tlocalhost ip6-localhost ip6-loopback\n");
        vm_machine_id("vm1", id);
        snprintf(expected, sizeof(expected), "%s\n", id);
        _cleanup_free_ char *mid = tree_read(f.root, "etc/machine-id");
        CHECK_STREQ(mid, expected);

        check_contains(f.root, "etc/systemd/network/90-cowvm.network", "[Match]\nMACAddress=02:00:00:aa:bb:0c\n");
        check_contains(f.root, "etc/systemd/network/90-cowvm.network",
                       "[Network]\nAddress=192.168.10.2/24\nAddress=fd00::2/64\nGateway=192.168.10.1\n"
                       "DNS=192.168.10.1\n");
        CHECK(!tree_exists(f.root, "etc/netplan/90-cowvm.yaml"));
        CHECK(tree_is_symlink_to(f.root, "etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
                                 "/lib/systemd/system/systemd-networkd.service"));

        shadow = tree_read(f.root, "etc/shadow");
        CHECK_STREQ(shadow, "root:" HASH ":19500:0:99999:7:::\n"
                            "daemon:*:19500:0:99999:7:::\n"
                            "user:!:19500:0:99999:7:::\n"
                            "sshd:!:19500::::::\n");

        _cleanup_free_ char *keys = tree_read(f.root, "root/.ssh/authorized_keys");
        CHECK_STREQ(keys, "ssh-rsa AAAAguest own@guest\n# BEGIN cowvm managed keys\n" KEY1 "\n" KEY2
                          "\n# END cowvm managed keys\n");
        CHECK(mode_of(f.root, "root/.ssh") == 0700);
        CHECK(mode_of(f.root, "root/.ssh/authorized_keys") == 0600);

        /* The base's host keys are gone; the guest makes its own. */
        CHECK(!tree_exists(f.root, "etc/ssh/ssh_host_ed25519_key"));
        CHECK(!tree_exists(f.root, "etc/ssh/ssh_host_ed25519_key.pub"));
        CHECK(tree_exists(f.base, "etc/ssh/ssh_host_ed25519_key"));
        check_contains(f.root, "etc/systemd/system/cowvm-ssh-keygen.service", "for t in ed25519 ecdsa;");
        CHECK(tree_is_symlink_to(f.root, "etc/systemd/system/multi-user.target.wants/cowvm-ssh-keygen.service",
                                 "../cowvm-ssh-keygen.service"));

        /* ReadyOn=guest is the default. */
        check_contains(f.root, "etc/systemd/system/cowvm-ready.service",
                       "ExecStart=/bin/sh -c 'echo READY=1 > /dev/hvc0'\n");
        CHECK(tree_is_symlink_to(f.root, "etc/systemd/system/multi-user.target.wants/cowvm-ready.service",
                                 "../cowvm-ready.service"));
        CHECK(tree_is_symlink_to(f.root, "etc/systemd/system/serial-getty@hvc0.service", "/dev/null"));

        _cleanup_free_ char *fstab = tree_read(f.root, "etc/fstab");
        CHECK_STREQ(fstab, "# /etc/fstab: static file system information.\n"
                           "myfs / virtiofs defaults 0 0\n"
                           "#cowvm-disabled: PARTUUID=1234-15 /boot/efi vfat defaults 0 0\n"
                           "tmpfs /tmp tmpfs defaults,size=10% 0 0\n");
        CHECK(!tree_exists(f.root, "etc/cloud"));

        /* Idempotence: a second run leaves exactly what the first left,
         * down to the inode numbers (nothing was rewritten). */
        snap1 = snapshot(f.root);
        free(log);
        CHECK(inject_all_captured(&f.c, &log) == 0);
        snap2 = snapshot(f.root);
        CHECK_STREQ(snap2, snap1);
        fixture_done(&f);
}

/* DHCP asks with the MAC as client identifier, which the default network's
 * static leases match (networkd's own default, a DUID, does not). */
static void test_networkd_dhcp(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL;

        fixture_setup(&f, "[Network]\nMAC=02:00:00:00:00:01\nDHCP=yes\n");
        CHECK(inject_all_captured(&f.c, &log) == 0);
        check_contains(f.root, "etc/systemd/network/90-cowvm.network",
                       "[Network]\nDHCP=yes\n\n[DHCPv4]\nClientIdentifier=mac\n");
        fixture_done(&f);
}

static void test_netplan_base(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL, *snap1 = NULL, *snap2 = NULL;

        fixture_setup(&f, "[Network]\nMAC=02:00:00:00:00:01\nDHCP=yes\nDNS=9.9.9.9\n");
        tree_write(f.root, "etc/netplan/50-cloud-init.yaml", "network: {version: 2}\n");

        CHECK(inject_all_captured(&f.c, &log) == 0);
        check_contains(f.root, "etc/netplan/90-cowvm.yaml",
                       "network:\n  version: 2\n  ethernets:\n    cowvm:\n      match:\n"
                       "        macaddress: \"02:00:00:00:00:01\"\n      dhcp4: true\n      dhcp6: true\n"
                       "      nameservers:\n        addresses:\n          - \"9.9.9.9\"\n");
        /* The default network's static leases are keyed by the MAC. */
        check_contains(f.root, "etc/netplan/90-cowvm.yaml", "      dhcp-identifier: mac\n");
        CHECK(mode_of(f.root, "etc/netplan/90-cowvm.yaml") == 0600);
        CHECK(!tree_exists(f.root, "etc/systemd/network/90-cowvm.network"));
        _cleanup_free_ char *theirs = tree_read(f.root, "etc/netplan/50-cloud-init.yaml");
        CHECK_STREQ(theirs, "network: {version: 2}\n");

        snap1 = snapshot(f.root);
        free(log);
        CHECK(inject_all_captured(&f.c, &log) == 0);
        snap2 = snapshot(f.root);
        CHECK_STREQ(snap2, snap1);

        /* The definition drops [Network]: cowvm's file goes, the guest's stays. */
        context_done(&f.c);
        vm_definition_free(f.def);
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "[VM]\nBase=%s\nReadyOn=vmm\n", f.base) < 0)
                abort();
        f.def = definition_new(f.dir, "vm1", text);
        context_init(&f.c, f.root, f.base, f.def);
        free(log);
        CHECK(inject_all_captured(&f.c, &log) == 0);
        CHECK(!tree_exists(f.root, "etc/netplan/90-cowvm.yaml"));
        CHECK(tree_exists(f.root, "etc/netplan/50-cloud-init.yaml"));
        CHECK(strstr(log, "Removed '/etc/netplan/90-cowvm.yaml'"));
        /* ReadyOn=vmm: the guest side of the protocol goes too. */
        CHECK(!tree_exists(f.root, "etc/systemd/system/cowvm-ready.service"));
        CHECK(!tree_exists(f.root, "etc/systemd/system/multi-user.target.wants/cowvm-ready.service"));
        CHECK(!tree_exists(f.root, "etc/systemd/system/serial-getty@hvc0.service"));
        fixture_done(&f);
}

static void test_no_ssh_base(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL;
        _cleanup_free_ char *ssh_dir = NULL, *sshd = NULL;

        fixture_setup(&f, "[Guest]\nUser=user\nSSHAuthorizedKey=" KEY1 "\n");
        ssh_dir = path_join(f.root, "etc/ssh");
        sshd = path_join(f.root, "usr/sbin/sshd");
        unlink(sshd);
        {
                _cleanup_free_ char *cmd = NULL;
                if (asprintf(&cmd, "rm -rf '%s'", ssh_dir) < 0 || system(cmd) != 0)
                        abort();
        }

        CHECK(inject_all_captured(&f.c, &log) == 0);
        CHECK(!tree_exists(f.root, "etc/systemd/system/cowvm-ssh-keygen.service"));
        CHECK(!tree_exists(f.root, "etc/ssh"));
        /* Keys for a normal user, in the home from the guest's passwd. */
        _cleanup_free_ char *keys = tree_read(f.root, "home/user/.ssh/authorized_keys");
        CHECK_STREQ(keys, "# BEGIN cowvm managed keys\n" KEY1 "\n# END cowvm managed keys\n");
        CHECK(mode_of(f.root, "home/user/.ssh") == 0700);
        fixture_done(&f);
}

static void test_cloud_init_base(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL;

        fixture_setup(&f, "");
        tree_write(f.root, "etc/cloud/cloud.cfg", "users: [default]\n");
        tree_write(f.root, "usr/bin/cloud-init", "");
        CHECK(inject_all_captured(&f.c, &log) == 0);
        CHECK(tree_exists(f.root, "etc/cloud/cloud-init.disabled"));
        _cleanup_free_ char *cfg = tree_read(f.root, "etc/cloud/cloud.cfg");
        CHECK_STREQ(cfg, "users: [default]\n");
        fixture_done(&f);
}

static void test_guest_host_keys_kept(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL;

        fixture_setup(&f, "");
        tree_write(f.root, "etc/ssh/ssh_host_ed25519_key", "THE GUEST'S OWN KEY\n");
        CHECK(inject_all_captured(&f.c, &log) == 0);
        _cleanup_free_ char *key = tree_read(f.root, "etc/ssh/ssh_host_ed25519_key");
        CHECK_STREQ(key, "THE GUEST'S OWN KEY\n");
        /* Its .pub still equals the base's: that one goes. */
        CHECK(!tree_exists(f.root, "etc/ssh/ssh_host_ed25519_key.pub"));
        fixture_done(&f);
}

static void test_missing_user(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL;

        fixture_setup(&f, "[Guest]\nUser=ghost\nPasswordHash=" HASH "\nSSHAuthorizedKey=" KEY1 "\n");
        CHECK(inject_all_captured(&f.c, &log) < 0);
        CHECK(strstr(log, "User 'ghost' (User= of VM 'vm1') has no line in '/etc/shadow'"));
        CHECK(strstr(log, "User 'ghost' (User= of VM 'vm1') does not exist in '/etc/passwd'"));
        /* The other writers still ran. */
        _cleanup_free_ char *hostname = tree_read(f.root, "etc/hostname");
        CHECK_STREQ(hostname, "vm1\n");
        fixture_done(&f);
}

static void test_keys_removed_with_definition(void) {
        Fixture f;
        _cleanup_free_ char *log = NULL, *text = NULL;

        fixture_setup(&f, "[Guest]\nSSHAuthorizedKey=" KEY1 "\n");
        tree_write(f.root, "root/.ssh/authorized_keys", "guest-key\n");
        CHECK(inject_all_captured(&f.c, &log) == 0);

        context_done(&f.c);
        vm_definition_free(f.def);
        if (asprintf(&text, "[VM]\nBase=%s\n", f.base) < 0)
                abort();
        f.def = definition_new(f.dir, "vm1", text);
        context_init(&f.c, f.root, f.base, f.def);
        free(log);
        CHECK(inject_all_captured(&f.c, &log) == 0);
        _cleanup_free_ char *keys = tree_read(f.root, "root/.ssh/authorized_keys");
        CHECK_STREQ(keys, "guest-key\n");
        fixture_done(&f);
}

int main(void) {
        test_networkd_base();
        test_networkd_dhcp();
        test_netplan_base();
        test_no_ssh_base();
        test_cloud_init_base();
        test_guest_host_keys_kept();
        test_missing_user();
        test_keys_removed_with_definition();
        TESTS_EXIT();
}
