/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Where definitions are: the definition directories in order of priority,
 * and the one rule of precedence that the generator and every helper follow.
 * For NAME, the first directory that has NAME.vm wins; there a symlink to
 * /dev/null masks NAME, and no lower directory can bring it back.
 */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "path-util.h"
#include "strv.h"
#include "vm-definition.h"

char *const *vm_definition_dirs(void) {
        static char *defaults[] = { "/etc/cowvm", "/run/cowvm", "/usr/lib/cowvm", NULL };
        static char **from_env = NULL;
        const char *e;

        if (from_env)
                return from_env;

        e = getenv("COWVM_DEFINITION_PATH");
        if (isempty(e))
                return defaults;

        /* Parsed once per process; a failure falls back to the defaults. */
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = strdup(e);
        char *state = NULL;
        if (!copy)
                return defaults;
        for (char *t = strtok_r(copy, ":", &state); t; t = strtok_r(NULL, ":", &state))
                if (strv_extend(&l, t) < 0)
                        return defaults;
        from_env = TAKE_PTR(l);
        return from_env ?: defaults;
}

/* The rule itself. 0 and the winning path, -ERFKILL and the masking link,
 * -ENOENT, or another error of lstat(). */
static int definition_lookup(const char *name, char **ret_path) {
        _cleanup_free_ char *file = NULL;

        if (asprintf(&file, "%s%s", name, VM_DEFINITION_SUFFIX) < 0)
                return -ENOMEM;
        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                _cleanup_free_ char *p = path_join(*dir, file);
                struct stat st;

                if (!p)
                        return -ENOMEM;
                if (lstat(p, &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                *ret_path = TAKE_PTR(p);
                return path_is_masked(*ret_path, &st) ? -ERFKILL : 0;
        }
        return -ENOENT;
}

int vm_definition_find(const char *name, char **ret_path) {
        _cleanup_free_ char *p = NULL;
        int r;

        assert(name && ret_path);
        r = definition_lookup(name, &p);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(p);
        return 0;
}

void vm_definition_list_done(VmDefinitionList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->entries[i].name);
                free(l->entries[i].path);
        }
        free(l->entries);
        *l = (VmDefinitionList) {};
}

static bool list_has(const VmDefinitionList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->entries[i].name, name))
                        return true;
        return false;
}

static int list_add(VmDefinitionList *l, const char *name) {
        VmDefinitionEntry *grown;
        char *copy;

        if (list_has(l, name))
                return 0;
        copy = strdup(name);
        grown = copy ? realloc(l->entries, sizeof(VmDefinitionEntry) * (l->n + 1)) : NULL;
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        l->entries = grown;
        l->entries[l->n++] = (VmDefinitionEntry) { .name = copy };
        return 0;
}

/* NAME of a file NAME.vm, NULL for any other file. */
static char *definition_file_name(const char *fn) {
        size_t len = strlen(fn), slen = strlen(VM_DEFINITION_SUFFIX);

        if (fn[0] == '.' || len <= slen || !streq(fn + len - slen, VM_DEFINITION_SUFFIX))
                return NULL;
        return strndup(fn, len - slen);
}

static int dirent_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* Adds the valid names of the NAME.vm files in `dir`, in name order (so that
 * runs, and their messages, are reproducible). */
static int collect_dir(VmDefinitionList *l, const char *dir) {
        struct dirent **des = NULL;
        int n, r = 0;

        n = scandir(dir, &des, NULL, dirent_compare);
        if (n < 0) {
                if (errno != ENOENT)
                        log_warning_errno(errno, "Failed to read '%s', ignoring: %m", dir);
                return 0;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *name = NULL, *path = NULL;

                if (r >= 0 && (name = definition_file_name(des[i]->d_name))) {
                        if (vm_name_is_valid(name))
                                r = list_add(l, name);
                        else if (!(path = path_join(dir, des[i]->d_name)))
                                r = -ENOMEM;
                        else
                                log_error("Ignoring '%s': '%s' is not a valid VM name (use a-z, 0-9 and '-', "
                                          "at most %d characters, no '-' at either end).",
                                          path, name, VM_NAME_MAX);
                }
                free(des[i]);
        }
        free(des);
        return r;
}

static int entry_compare(const void *a, const void *b) {
        return strcmp(((const VmDefinitionEntry *) a)->name, ((const VmDefinitionEntry *) b)->name);
}

int vm_definitions_enumerate(VmDefinitionList *ret) {
        _cleanup_(vm_definition_list_done) VmDefinitionList l = {};
        size_t kept = 0;
        int r;

        assert(ret);
        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                r = collect_dir(&l, *dir);
                if (r < 0)
                        return log_oom();
        }
        qsort(l.entries, l.n, sizeof(VmDefinitionEntry), entry_compare);

        /* Each name resolved by the rule of vm_definition_find(). */
        for (size_t i = 0; i < l.n; i++) {
                VmDefinitionEntry e = l.entries[i];

                l.entries[i] = (VmDefinitionEntry) {};
                r = definition_lookup(e.name, &e.path);
                if (r == -ENOMEM) {
                        free(e.name);
                        return log_oom();
                }
                if (r == -ERFKILL)
                        log_debug("VM '%s' is masked by '%s'.", e.name, e.path);
                else if (r < 0)
                        log_warning_errno(r, "Failed to look up the definition of VM '%s', ignoring: %m", e.name);
                if (r < 0) {
                        free(e.name);
                        free(e.path);
                        continue;
                }
                l.entries[kept++] = e;
        }
        l.n = kept;
        *ret = l;
        l = (VmDefinitionList) {};
        return 0;
}
