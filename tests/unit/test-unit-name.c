/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>

#include "overlay-util.h"
#include "tests.h"
#include "unit-name.h"

static void check_escape(const char *path, const char *expected) {
        char *s = NULL;

        CHECK(unit_name_from_path(path, ".mount", &s) == 0);
        CHECK_STREQ(s, expected);
        free(s);
}

int main(void) {
        char *s = NULL;
        /* Expected values are what `systemd-escape --path --suffix=mount` prints. */
        check_escape("/run/cowvm/web/root", "run-cowvm-web-root.mount");
        check_escape("/run/cowvm/web-1/root", "run-cowvm-web\\x2d1-root.mount");
        check_escape("/srv/a b/.hidden", "srv-a\\x20b-\\x2ehidden.mount");
        check_escape("/", "-.mount");
        CHECK(unit_name_from_path("relative/path", ".mount", &s) == -EINVAL);
        CHECK(unit_name_from_path("/a/../b", ".mount", &s) == -EINVAL);

        s = overlay_escape_path("/srv/a,b:c\\d");
        CHECK_STREQ(s, "/srv/a\\,b\\:c\\\\d");
        free(s);
        TESTS_EXIT();
}
