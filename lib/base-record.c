/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base-record.h"
#include "macro.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"
#include "vm-layout.h"

void base_record_done(BaseRecord *b) {
        free(b->path);
        free(b->id);
        *b = (BaseRecord) {};
}

int base_record_read(const char *file, BaseRecord *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_(base_record_done) BaseRecord b = {};
        char line[8192];

        assert(file && ret);
        f = fopen(file, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                char **field = NULL;
                const char *value = NULL;

                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "path=", 5) == 0)
                        field = &b.path, value = line + 5;
                else if (strncmp(line, "id=", 3) == 0)
                        field = &b.id, value = line + 3;
                if (!field)
                        continue;
                /* The first of each counts (as cowvm-mkbase always read path=). */
                if (!*field && !(*field = strdup(value)))
                        return -ENOMEM;
        }
        if (!b.path || !b.id)
                return -EBADMSG;
        *ret = b;
        b = (BaseRecord) {};
        return 0;
}

int base_record_write(int state_fd, const char *base_dir, const char *id) {
        _cleanup_free_ char *data = NULL;
        int n;

        assert(state_fd >= 0 && base_dir && id);
        n = asprintf(&data,
                     "# The base this VM's upper layer was created over. overlay-prepare refuses\n"
                     "# to start the VM when the base changes: overlayfs gives undefined results\n"
                     "# when the lower layer changes under an existing upper layer.\n"
                     "path=%s\nid=%s\n",
                     base_dir, id);
        if (n < 0)
                return -ENOMEM;
        /* The state directory is root's own (0700): the guest cannot reach it. */
        return safe_write_file_atomic_at(state_fd, VM_LAYOUT_BASE_RECORD, data, (size_t) n, 0600, 0, 0, 0);
}

/* Whether the record of VM `name` names the base at `dir` (resolving to `real`). */
static int record_names(const char *name, const char *dir, const char *real) {
        _cleanup_(vm_layout_done) VmLayout l = {};
        _cleanup_(base_record_done) BaseRecord rec = {};
        _cleanup_free_ char *p = NULL;
        int r;

        r = vm_layout_make(name, false, &l);
        if (r < 0)
                return r;
        r = base_record_read(l.base_record, &rec);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* no record (yet), or not one of ours */
        if (streq(rec.path, dir))
                return 1;
        p = realpath(rec.path, NULL);
        return real && p && streq(p, real);
}

static int dirent_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int base_record_users(const char *base_dir, char ***ret) {
        _cleanup_free_ char *vms = vm_layout_vms_dir(), *real = NULL;
        _cleanup_strv_free_ char **users = NULL;
        struct dirent **des = NULL;
        int n, r = 0;

        assert(base_dir && ret);
        if (!vms)
                return -ENOMEM;
        real = realpath(base_dir, NULL);
        n = scandir(vms, &des, NULL, dirent_compare);
        if (n < 0 && errno != ENOENT)
                return -errno;
        for (int i = 0; i < n; i++) {
                if (r >= 0 && des[i]->d_name[0] != '.') {
                        r = record_names(des[i]->d_name, base_dir, real);
                        if (r > 0)
                                r = strv_extend(&users, des[i]->d_name);
                }
                free(des[i]);
        }
        free(des);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(users);
        return 0;
}
