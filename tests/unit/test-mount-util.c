/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>

#include "mount-util.h"
#include "tests.h"

int main(void) {
        char *v = NULL;

        CHECK(mount_option_get("lowerdir=/a,upperdir=/b,workdir=/c", "upperdir", &v) == 1);
        CHECK_STREQ(v, "/b");
        free(v);
        /* As libmount hands over what the kernel shows for escaped paths. */
        CHECK(mount_option_get("rw,lowerdir=/l\\,o\\:w\\\\r,upperdir=/u\\,p,index=on", "upperdir", &v) == 1);
        CHECK_STREQ(v, "/u,p");
        free(v);
        CHECK(mount_option_get("rw,lowerdir=/l\\,o\\:w\\\\r,upperdir=/u", "lowerdir", &v) == 1);
        CHECK_STREQ(v, "/l,o:w\\r");
        free(v);
        CHECK(mount_option_get("rw,index=on", "upperdir", &v) == 0);
        CHECK(mount_option_get("rw,upperdirx=/x", "upperdir", &v) == 0);

        /* / is always a mount point; a fresh subdirectory of it never is. */
        CHECK(mount_find("/", NULL) == 1);
        CHECK(mount_find("/nonexistent-cowvm-test-dir", NULL) == 0);
        TESTS_EXIT();
}
