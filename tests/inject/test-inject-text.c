/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The text transformations of config-inject, on whole files. */

#include <stdlib.h>

#include "inject-test.h"
#include "macro.h"

static void test_fstab(void) {
        _cleanup_free_ char *out = NULL, *out2 = NULL;
        const char *in = "# /etc/fstab: static file system information.\n"
                         "\n"
                         "PARTUUID=abc-01 / ext4 rw,discard,errors=remount-ro 0 1\n"
                         "UUID=1111-2222 /boot/efi vfat umask=0077 0 1\n"
                         "LABEL=data /srv ext4 defaults 0 2\n"
                         "PARTLABEL=swap none swap sw 0 0\n"
                         "/dev/sda3 none swap sw 0 0\n"
                         "  tmpfs\t/tmp tmpfs defaults 0 0\n"
                         "proc /proc proc defaults 0 0\n"
                         "server:/export /mnt nfs defaults 0 0";

        CHECK(fstab_rewrite(in, &out) == 0);
        CHECK_STREQ(out, "# /etc/fstab: static file system information.\n"
                         "\n"
                         "myfs / virtiofs defaults 0 0\n"
                         "#cowvm-disabled: UUID=1111-2222 /boot/efi vfat umask=0077 0 1\n"
                         "#cowvm-disabled: LABEL=data /srv ext4 defaults 0 2\n"
                         "#cowvm-disabled: PARTLABEL=swap none swap sw 0 0\n"
                         "#cowvm-disabled: /dev/sda3 none swap sw 0 0\n"
                         "  tmpfs\t/tmp tmpfs defaults 0 0\n"
                         "proc /proc proc defaults 0 0\n"
                         "server:/export /mnt nfs defaults 0 0");
        /* A second pass changes nothing. */
        CHECK(fstab_rewrite(out, &out2) == 0);
        CHECK_STREQ(out2, out);

        free(out);
        CHECK(fstab_rewrite(NULL, &out) == 0);
        CHECK_STREQ(out, "myfs / virtiofs defaults 0 0\n");
        free(out);
        CHECK(fstab_rewrite("tmpfs /tmp tmpfs defaults 0 0", &out) == 0);
        CHECK_STREQ(out, "tmpfs /tmp tmpfs defaults 0 0\nmyfs / virtiofs defaults 0 0\n");
}

static void test_hosts(void) {
        _cleanup_free_ char *out = NULL, *out2 = NULL;

        CHECK(hosts_rewrite("127.0.0.1\tlocalhost\n::1 localhost\n", "vm1", &out) == 0);
        CHECK_STREQ(out, "127.0.0.1\tlocalhost\n127.0.1.1\tvm1\n::1 localhost\n");
        CHECK(hosts_rewrite(out, "vm1", &out2) == 0);
        CHECK_STREQ(out2, out);
        free(out);
        free(out2);

        /* Only the 127.0.1.1 line changes; a duplicate goes. */
        CHECK(hosts_rewrite("# mine\n10.0.0.5 db\n127.0.1.1 old.example old\n127.0.1.1 older\n", "a.example.org",
                            &out) == 0);
        CHECK_STREQ(out, "# mine\n10.0.0.5 db\n127.0.1.1\ta.example.org a\n");
        free(out);

        CHECK(hosts_rewrite(NULL, "vm", &out) == 0);
        CHECK_STREQ(out, "127.0.0.1\tlocalhost\n127.0.1.1\tvm\n::1\t\tlocalhost ip6-localhost ip6-loopback\n");
        free(out);
        out2 = NULL;
        CHECK(hosts_rewrite("10.0.0.1 x", "vm", &out) == 0);
        CHECK_STREQ(out, "10.0.0.1 x\n127.0.1.1\tvm\n");
}

static void test_shadow(void) {
        _cleanup_free_ char *out = NULL;
        const char *in = "root:*:19500:0:99999:7:::\n"
                         "userx:$6$keep$this:1:::::\n"
                         "user:!:19500:0:99999:7:::\n"
                         "zed:*:1:2:3:4:5:6:\n"
                         "tail without newline";
        char *expected;

        CHECK(shadow_rewrite(in, "user", "$y$j9T$salt$hash", &out) == 0);
        CHECK_STREQ(out, "root:*:19500:0:99999:7:::\n"
                         "userx:$6$keep$this:1:::::\n"
                         "user:$y$j9T$salt$hash:19500:0:99999:7:::\n"
                         "zed:*:1:2:3:4:5:6:\n"
                         "tail without newline");
        /* Byte for byte: everything before and after the field is the same. */
        expected = strstr(out, "user:$y$");
        CHECK(expected && strncmp(out, in, (size_t) (expected - out)) == 0);
        CHECK(streq(strstr(out, ":19500:0:99999:7:::\nzed"), strstr(in, ":19500:0:99999:7:::\nzed")));

        free(out);
        out = NULL;
        CHECK(shadow_rewrite(in, "nobody", "$6$x", &out) == -ESRCH);
        CHECK(shadow_rewrite("user\n", "user", "$6$x", &out) == -ESRCH);
        CHECK(shadow_rewrite("user:nofield2end\n", "user", "$6$x", &out) == -EUCLEAN);
        CHECK(!out);
}

static void test_passwd(void) {
        PasswdEntry e = {};

        CHECK(passwd_lookup("root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1001::/home/user:/bin/sh\n", "user", &e) ==
              0);
        CHECK(e.uid == 1000 && e.gid == 1001);
        CHECK_STREQ(e.home, "/home/user");
        passwd_entry_done(&e);

        CHECK(passwd_lookup("user:x:1000:1000::/../../etc:/bin/sh\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("user:x:1000:1000::home/user:/bin/sh\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("user:x:1000:1000::/home//user:/bin/sh\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("user:x:-1:1000::/home/user:/bin/sh\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("user:x:4294967295:1000::/home/user:/bin/sh\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("user:x:1000:1000::/home/user\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("user:x:1000:1000::/home/user:/bin/sh:extra\n", "user", &e) == -EUCLEAN);
        CHECK(passwd_lookup("userx:x:1000:1000::/home/user:/bin/sh\n", "user", &e) == -ESRCH);
        CHECK(passwd_lookup("", "user", &e) == -ESRCH);
}

static void test_authorized_keys(void) {
        _cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL;
        char *keys[] = { "ssh-ed25519 AAAA1 a@b", "ssh-rsa AAAA2 c@d", NULL };
        char *keys2[] = { "ssh-ed25519 AAAA3 e@f", NULL };

        CHECK(authorized_keys_rewrite("ssh-ed25519 GUEST own@key", keys, &out) == 0);
        CHECK_STREQ(out, "ssh-ed25519 GUEST own@key\n"
                         "# BEGIN cowvm managed keys\n"
                         "ssh-ed25519 AAAA1 a@b\n"
                         "ssh-rsa AAAA2 c@d\n"
                         "# END cowvm managed keys\n");
        CHECK(authorized_keys_rewrite(out, keys2, &out2) == 0);
        CHECK_STREQ(out2, "ssh-ed25519 GUEST own@key\n"
                          "# BEGIN cowvm managed keys\n"
                          "ssh-ed25519 AAAA3 e@f\n"
                          "# END cowvm managed keys\n");
        CHECK(authorized_keys_rewrite(out2, NULL, &out3) == 0);
        CHECK_STREQ(out3, "ssh-ed25519 GUEST own@key\n");
        free(out);
        /* A key the guest added after our block stays. */
        CHECK(authorized_keys_rewrite("# BEGIN cowvm managed keys\nold\n# END cowvm managed keys\nguest-after\n",
                                      keys2, &out) == 0);
        CHECK_STREQ(out, "guest-after\n# BEGIN cowvm managed keys\nssh-ed25519 AAAA3 e@f\n# END cowvm managed keys\n");
}

int main(void) {
        test_fstab();
        test_hosts();
        test_shadow();
        test_passwd();
        test_authorized_keys();
        TESTS_EXIT();
}
