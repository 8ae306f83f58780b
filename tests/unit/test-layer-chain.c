/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-chain.h"
#include "tests.h"

static char root[] = "/tmp/test-layer-chain-XXXXXX";

static void put(const char *path, const char *content) {
        char p[512], *slash;
        FILE *f;

        (void) snprintf(p, sizeof p, "%s/%s", root, path);
        for (slash = strchr(p + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                (void) mkdir(p, 0755);
                *slash = '/';
        }
        f = fopen(p, "we");
        CHECK(f);
        if (f) {
                fputs(content, f);
                fclose(f);
        }
}

static void link_(const char *target, const char *path) {
        char p[512];

        (void) snprintf(p, sizeof p, "%s/%s", root, path);
        CHECK(symlink(target, p) == 0);
}

/* Found through the stack: the path relative to the test root. */
static const char *find(char *const *dirs, const char *path) {
        static char buf[512];
        char *found = NULL;
        int r = layer_stack_find(dirs, path, &found);

        if (r < 0)
                return snprintf(buf, sizeof buf, "%s", strerror(-r)), buf;
        (void) snprintf(buf, sizeof buf, "%s", found + strlen(root) + 1);
        free(found);
        return buf;
}

int main(void) {
        char top[100], mid[100], bottom[100], p[200];
        char *dirs[] = { top, mid, bottom, NULL };
        bool privileged;

        CHECK(mkdtemp(root));
        (void) snprintf(top, sizeof top, "%s/top", root);
        (void) snprintf(mid, sizeof mid, "%s/mid", root);
        (void) snprintf(bottom, sizeof bottom, "%s/bottom", root);
        put("bottom/boot/vmlinuz-1", "1");
        link_("vmlinuz-1", "bottom/boot/vmlinuz");
        put("bottom/initrd.img", "i");
        put("bottom/etc/gone", "g");
        put("bottom/opq/hidden", "h");
        put("bottom/dirfile/x", "x");
        put("mid/boot/vmlinuz-2", "2");
        put("mid/opq/seen", "s");
        put("top/dirfile", "f");
        put("top/etc/kept", "k");
        put("top/boot/README", "r");
        /* An upgrade in the top layer: the link there, the kernel below. */
        link_("vmlinuz-2", "top/boot/vmlinuz");
        link_("/boot/vmlinuz", "top/vmlinuz");
        link_("../../boot/./vmlinuz-1", "top/etc/old");

        CHECK_STREQ(find(dirs, "boot/vmlinuz"), "mid/boot/vmlinuz-2");
        CHECK_STREQ(find(dirs, "/vmlinuz"), "mid/boot/vmlinuz-2");
        CHECK_STREQ(find(dirs, "etc/old"), "bottom/boot/vmlinuz-1");
        CHECK_STREQ(find(dirs, "initrd.img"), "bottom/initrd.img");
        CHECK_STREQ(find(dirs, "etc/gone"), "bottom/etc/gone");
        /* A file of the top layer hides a directory below. */
        CHECK_STREQ(find(dirs, "dirfile/x"), strerror(ENOENT));
        CHECK_STREQ(find(dirs, "nothing"), strerror(ENOENT));

        /* Whiteouts and opaque directories need root (mknod, trusted.*). */
        (void) snprintf(p, sizeof p, "%s/etc/gone", top);
        privileged = mknod(p, S_IFCHR | 0000, makedev(0, 0)) == 0;
        (void) snprintf(p, sizeof p, "%s/opq", mid);
        privileged = privileged && setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0;
        if (privileged) {
                CHECK_STREQ(find(dirs, "etc/gone"), strerror(ENOENT));
                CHECK_STREQ(find(dirs, "opq/hidden"), strerror(ENOENT));
                CHECK_STREQ(find(dirs, "opq/seen"), "mid/opq/seen");
        } else
                fprintf(stderr, "not root: whiteouts and opaque directories not checked\n");

        CHECK(snapshot_label_is_valid("before-upgrade.1"));
        CHECK(!snapshot_label_is_valid(""));
        CHECK(!snapshot_label_is_valid("-x"));
        CHECK(!snapshot_label_is_valid("a/b"));
        CHECK(!snapshot_label_is_valid("a b"));
        CHECK(!snapshot_label_is_valid("123456789012345678901234567890123"));

        {
                SnapshotList l = {}, back = {};
                int r;

                CHECK(snapshot_list_add(&l, 1, 100, "one") == 0);
                CHECK(snapshot_list_add(&l, 3, 200, "three") == 0);
                r = snapshot_list_write(root, &l);
                CHECK(r == 0);
                CHECK(snapshot_list_read(root, &back) == 0);
                CHECK(back.n == 2 && back.items[1].num == 3 && back.items[1].time == 200);
                CHECK(back.n == 2 && strcmp(back.items[0].label, "one") == 0);
                CHECK(snapshot_list_find(&back, "three") == 1);
                CHECK(snapshot_list_find(&back, "two") == -ENOENT);
                snapshot_list_done(&l);
                snapshot_list_done(&back);
                /* Out of order or duplicate lines are refused. */
                put("snapshots", "3 100 a\n2 200 b\n");
                CHECK(snapshot_list_read(root, &back) == -EBADMSG);
                put("snapshots", "1 100 a\n2 200 a\n");
                CHECK(snapshot_list_read(root, &back) == -EBADMSG);
        }

        {
                char cmd[700];

                (void) snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", root);
                (void) system(cmd);
        }
        TESTS_EXIT();
}
