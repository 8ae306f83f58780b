/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The base record: what overlay-prepare has always written is read back as
 * it was, and base_record_users() finds the VMs made over a base. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base-record.h"
#include "path-util.h"
#include "strv.h"
#include "tests.h"
#include "vm-layout.h"

/* Byte for byte what overlay-prepare wrote before the reader moved to lib/. */
#define OLD_RECORD                                                                                                    \
        "# The base this VM's upper layer was created over. overlay-prepare refuses\n"                                \
        "# to start the VM when the base changes: overlayfs gives undefined results\n"                                \
        "# when the lower layer changes under an existing upper layer.\n"                                             \
        "path=%s\nid=%s\n"

static char tmp[] = "/tmp/test-base-record.XXXXXX";

static int write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -1;
        fputs(text, f);
        return fclose(f);
}

static char *vm_dir(const char *name) {
        _cleanup_free_ char *vms = vm_layout_vms_dir();
        char *p = path_join(vms, name);

        CHECK(p && mkdir(p, 0700) == 0);
        return p;
}

static void test_roundtrip(const char *base) {
        _cleanup_free_ char *dir = vm_dir("web"), *file = NULL, *expected = NULL, *data = NULL;
        _cleanup_(base_record_done) BaseRecord rec = {};
        _cleanup_close_ int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        size_t len = 0;
        FILE *f;

        CHECK(fd >= 0);
        CHECK(base_record_write(fd, base, "mkbase:1234") >= 0);
        file = path_join(dir, "base");
        CHECK(asprintf(&expected, OLD_RECORD, base, "mkbase:1234") > 0);
        f = fopen(file, "re");
        CHECK(f);
        if (f) {
                data = calloc(1, 4096);
                len = fread(data, 1, 4095, f);
                fclose(f);
        }
        CHECK(len > 0);
        CHECK_STREQ(data, expected);
        CHECK(base_record_read(file, &rec) == 0);
        CHECK_STREQ(rec.path, base);
        CHECK_STREQ(rec.id, "mkbase:1234");
}

static void test_bad(void) {
        _cleanup_free_ char *dir = vm_dir("broken"), *file = path_join(dir, "base");
        BaseRecord rec = {};

        CHECK(base_record_read("/nonexistent/base", &rec) == -ENOENT);
        CHECK(write_text(file, "path=/x\n") == 0);
        CHECK(base_record_read(file, &rec) == -EBADMSG);
}

static void test_users(const char *base) {
        _cleanup_free_ char *link = path_join(tmp, "link"), *api = vm_dir("api"), *rec = path_join(api, "base"),
                            *line = NULL;
        _cleanup_strv_free_ char **users = NULL, **none = NULL;

        /* "api" names the base through a symlink; "web" by its path;
         * "broken" has no usable record. */
        CHECK(symlink(base, link) == 0);
        CHECK(asprintf(&line, "path=%s\nid=x\n", link) > 0);
        CHECK(write_text(rec, line) == 0);
        CHECK(base_record_users(base, &users) == 0);
        CHECK(strv_length(users) == 2);
        if (strv_length(users) == 2) {
                CHECK_STREQ(users[0], "api");
                CHECK_STREQ(users[1], "web");
        }
        CHECK(base_record_users("/var/lib/cowvm/bases/other", &none) == 0);
        CHECK(!none);
}

int main(void) {
        _cleanup_free_ char *vms = NULL, *bases = NULL, *base = NULL;

        CHECK(mkdtemp(tmp));
        CHECK(setenv("COWVM_STATE_DIR", tmp, 1) == 0);
        vms = vm_layout_vms_dir();
        bases = vm_layout_bases_dir();
        base = vm_layout_base_dir("b1");
        CHECK(mkdir(vms, 0700) == 0 && mkdir(bases, 0700) == 0 && mkdir(base, 0755) == 0);

        test_roundtrip(base);
        test_bad();
        test_users(base);

        char cmd[128];
        (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        (void) system(cmd);
        TESTS_EXIT();
}
