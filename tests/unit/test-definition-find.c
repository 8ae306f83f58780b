/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The generator's enumeration and a helper's lookup follow one rule: the
 * first directory that has NAME.vm wins, a symlink to /dev/null masks NAME
 * for every lower directory. */

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "path-util.h"
#include "tests.h"
#include "vm-definition.h"

static char tmp[] = "/tmp/test-definition-find.XXXXXX";

static void put(const char *dir, const char *file, const char *link_to) {
        _cleanup_free_ char *d = path_join(tmp, dir), *p = path_join(d, file);
        FILE *f;

        (void) mkdir(d, 0755);
        if (link_to) {
                CHECK(symlink(link_to, p) == 0);
                return;
        }
        f = fopen(p, "we");
        CHECK(f);
        if (f)
                fclose(f);
}

static const char *entry_path(const VmDefinitionList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->entries[i].name, name))
                        return l->entries[i].path;
        return NULL;
}

/* What vm_definition_find() says of NAME, relative to tmp: "high/NAME.vm", "masked", "none". */
static char *find(const char *name) {
        _cleanup_free_ char *path = NULL;
        int r = vm_definition_find(name, &path);

        if (r == -ERFKILL)
                return strdup("masked");
        if (r == -ENOENT)
                return strdup("none");
        return r < 0 ? NULL : strdup(path + strlen(tmp) + 1);
}

int main(void) {
        _cleanup_(vm_definition_list_done) VmDefinitionList l = {};
        _cleanup_free_ char *env = NULL;

        log_setup("test", LOG_TARGET_CONSOLE);
        CHECK(mkdtemp(tmp));
        CHECK(asprintf(&env, "%s/high:%s/low", tmp, tmp) > 0);
        CHECK(setenv("COWVM_DEFINITION_PATH", env, 1) == 0);

        put("high", "both.vm", NULL);
        put("low", "both.vm", NULL);
        put("low", "onlylow.vm", NULL);
        put("high", "masked.vm", "/dev/null");
        put("low", "masked.vm", NULL);
        put("high", "Bad_Name.vm", NULL);
        put("high", "notes.txt", NULL);

        CHECK(vm_definitions_enumerate(&l) == 0);
        CHECK(l.n == 2);
        if (l.n == 2) {
                /* Sorted by name across directories. */
                CHECK_STREQ(l.entries[0].name, "both");
                CHECK_STREQ(l.entries[1].name, "onlylow");
        }
        CHECK(entry_path(&l, "masked") == NULL);

        for (size_t i = 0; i < l.n; i++) {
                _cleanup_free_ char *found = find(l.entries[i].name);

                /* The enumeration gives each VM the file the lookup gives it. */
                CHECK_STREQ(found, l.entries[i].path + strlen(tmp) + 1);
        }
        _cleanup_free_ char *both = find("both"), *low = find("onlylow"), *masked = find("masked"),
                            *none = find("nosuch");
        CHECK_STREQ(both, "high/both.vm");
        CHECK_STREQ(low, "low/onlylow.vm");
        CHECK_STREQ(masked, "masked");
        CHECK_STREQ(none, "none");

        char cmd[128];
        (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        (void) system(cmd);
        TESTS_EXIT();
}
