/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-chain.h"
#include "log.h"
#include "overlay-util.h"
#include "parse-util.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"

#define SNAPSHOT_LIST "snapshots"

/* ---- a VM's snapshots ---------------------------------------------------- */

void snapshot_list_done(SnapshotList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].label);
        free(l->items);
        *l = (SnapshotList) {};
}

bool snapshot_label_is_valid(const char *label) {
        size_t n = strlen(label);

        if (n == 0 || n > SNAPSHOT_LABEL_MAX || label[0] == '.' || label[0] == '-')
                return false;
        return strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int snapshot_list_add(SnapshotList *l, unsigned num, int64_t time, const char *label) {
        Snapshot *items = realloc(l->items, (l->n + 1) * sizeof *items);
        char *copy = strdup(label);

        if (items)
                l->items = items;
        if (!items || !copy) {
                free(copy);
                return -ENOMEM;
        }
        l->items[l->n++] = (Snapshot) { .num = num, .time = time, .label = copy };
        return 0;
}

int snapshot_list_find(const SnapshotList *l, const char *label) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].label, label))
                        return (int) i;
        return -ENOENT;
}

char *snapshot_layer_dir(const char *state_dir, unsigned num) {
        char *s;

        if (asprintf(&s, "%s/layers/%u", state_dir, num) < 0)
                return NULL;
        return s;
}

/* "NUM TIME LABEL" lines, oldest first. Written only by cowvm, in a
 * directory only root reaches; checked all the same, since a wrong line
 * would stack the wrong tree. */
static int snapshot_line_parse(char *line, SnapshotList *l) {
        unsigned num;
        int64_t time;
        char label[SNAPSHOT_LABEL_MAX + 2];

        if (sscanf(line, "%u %" SCNd64 " %33s", &num, &time, label) != 3 || num == 0 ||
            !snapshot_label_is_valid(label) || snapshot_list_find(l, label) >= 0 ||
            (l->n > 0 && num <= l->items[l->n - 1].num))
                return -EBADMSG;
        return snapshot_list_add(l, num, time, label);
}

int snapshot_list_read(const char *state_dir, SnapshotList *ret) {
        _cleanup_(snapshot_list_done) SnapshotList l = {};
        _cleanup_free_ char *path = path_join(state_dir, SNAPSHOT_LIST);
        _cleanup_fclose_ FILE *f = NULL;
        char line[256];
        int r;

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f && errno != ENOENT)
                return -errno;
        while (f && fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                if (line[0] == '#' || line[0] == '\0')
                        continue;
                r = snapshot_line_parse(line, &l);
                if (r < 0)
                        return r;
        }
        *ret = l;
        l = (SnapshotList) {};
        return 0;
}

int snapshot_list_write(const char *state_dir, const SnapshotList *l) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&data, &size);
        if (!f)
                return -ENOMEM;
        fputs("# The snapshot layers of this VM, oldest first: NUM TIME LABEL; layer NUM is\n"
              "# layers/NUM. Written by cowvm(1); overlay-prepare stacks them in this order.\n",
              f);
        for (size_t i = 0; i < l->n; i++)
                fprintf(f, "%u %" PRId64 " %s\n", l->items[i].num, l->items[i].time, l->items[i].label);
        if (fclose(f) != 0)
                return -ENOMEM;
        fd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        r = safe_write_file_atomic_at(fd, SNAPSHOT_LIST, data, size, 0600, 0, 0, 0);
        return r < 0 ? r : 0;
}

/* ---- the base store -------------------------------------------------------- */

char *base_parent_file(const char *name) {
        char *s;

        if (asprintf(&s, "%s/bases/.%s.parent", cowvm_state_dir(), name) < 0)
                return NULL;
        return s;
}

static bool base_name_is_valid(const char *s) {
        return filename_is_valid(s) && s[0] != '.' && !string_has_cc(s) && !strpbrk(s, " \"");
}

int base_parent_read(const char *name, char **ret) {
        _cleanup_free_ char *path = base_parent_file(name), *data = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char line[256];

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        if (!fgets(line, sizeof line, f))
                return -EBADMSG;
        line[strcspn(line, "\n")] = '\0';
        if (!base_name_is_valid(line))
                return -EBADMSG;
        data = strdup(line);
        if (!data)
                return -ENOMEM;
        *ret = TAKE_PTR(data);
        return 1;
}

int base_chain_names(const char *name, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        _cleanup_free_ char *cur = strdup(name);
        int r;

        if (!cur)
                return -ENOMEM;
        while (cur) {
                char *parent = NULL;

                if (strv_length(l) >= LAYER_CHAIN_MAX_BASES)
                        return -ELOOP; /* a loop, or absurdly deep */
                if (strv_extend(&l, cur) < 0)
                        return -ENOMEM;
                r = base_parent_read(cur, &parent);
                if (r < 0)
                        return r;
                free(cur);
                cur = parent;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* The base's layers as host paths: a Base= that is an absolute path is one
 * tree, a name may stand on parents. */
static int base_chain_dirs(const VmDefinition *d, char ***l) {
        _cleanup_(strv_freep) char **names = NULL;
        int r;

        if (d->base[0] == '/')
                return strv_extend(l, d->base_dir);
        r = base_chain_names(d->base, &names);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *p = path_join3(cowvm_state_dir(), "bases", *n);

                if (!p || strv_extend(l, p) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int layer_chain_dirs(const VmDefinition *d, char ***ret, size_t *ret_n_vm) {
        _cleanup_(snapshot_list_done) SnapshotList s = {};
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        if (!d->ephemeral) {
                r = snapshot_list_read(d->layout.state_dir, &s);
                if (r < 0)
                        return r;
        }
        for (size_t i = s.n; i > 0; i--) {
                _cleanup_free_ char *p = snapshot_layer_dir(d->layout.state_dir, s.items[i - 1].num);

                if (!p || strv_extend(&l, p) < 0)
                        return -ENOMEM;
        }
        r = base_chain_dirs(d, &l);
        if (r < 0)
                return r;
        if (ret_n_vm)
                *ret_n_vm = s.n;
        *ret = TAKE_PTR(l);
        return 0;
}

int layer_chain_lowerdir(const VmDefinition *d, char **ret) {
        _cleanup_(strv_freep) char **dirs = NULL;
        _cleanup_free_ char *s = NULL;
        size_t len = 0;
        int r;

        r = layer_chain_dirs(d, &dirs, NULL);
        if (r < 0)
                return r;
        for (char **p = dirs; *p; p++) {
                _cleanup_free_ char *e = overlay_escape_path(*p);
                size_t n;
                char *t;

                if (!e)
                        return -ENOMEM;
                n = strlen(e);
                t = realloc(s, len + n + 2);
                if (!t)
                        return -ENOMEM;
                s = t;
                if (len > 0)
                        s[len++] = ':';
                memcpy(s + len, e, n + 1);
                len += n;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- identities ------------------------------------------------------------ */

/* What identifies a base: the id cowvm-mkbase wrote into it, else the
 * inode number and birth time of its root directory, which change when the
 * tree is replaced (rm + recreate, or mv of another tree into place). */
int layer_identity(int base_fd, char **ret) {
        _cleanup_free_ char *data = NULL;
        struct statx stx;
        size_t size;
        int r;

        r = safe_read_file_at(base_fd, "etc/cowvm-base-id", 4096, &data, &size, NULL);
        if (r >= 0) {
                data[strcspn(data, "\n")] = '\0';
                if (!isempty(data) && !string_has_cc(data) && !strpbrk(data, " \t")) {
                        *ret = TAKE_PTR(data);
                        return 0;
                }
        } else if (r != -ENOENT)
                return r;

        if (statx(base_fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &stx) < 0)
                return -errno;
        if (stx.stx_mask & STATX_BTIME)
                r = asprintf(ret, "inode:%" PRIu64 ":%" PRIi64 ".%09" PRIu32, (uint64_t) stx.stx_ino,
                             (int64_t) stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec);
        else
                r = asprintf(ret, "inode:%" PRIu64, (uint64_t) stx.stx_ino);
        return r < 0 ? -ENOMEM : 0;
}

/* The identity of every base layer, top-most first: a parent replaced
 * under a layered base is as much a change as the base itself. */
int layer_chain_identity(const VmDefinition *d, int base_fd, char **ret) {
        _cleanup_strv_free_ char **dirs = NULL;
        _cleanup_free_ char *all = NULL;
        VmDefinition plain = *d;
        int r;

        plain.ephemeral = true;
        if (layer_chain_dirs(&plain, &dirs, NULL) < 0 || strv_length(dirs) < 2)
                return layer_identity(base_fd, ret);
        STRV_FOREACH (p, dirs) {
                _cleanup_close_ int fd = -EBADF;
                _cleanup_free_ char *id = NULL, *joined = NULL;

                r = safe_fs_open_root(*p, &fd);
                if (r >= 0)
                        r = layer_identity(fd, &id);
                if (r < 0)
                        return r;
                if (asprintf(&joined, "%s%s%s", strempty(all), all ? "/" : "", id) < 0)
                        return -ENOMEM;
                free(all);
                all = TAKE_PTR(joined);
        }
        *ret = TAKE_PTR(all);
        return 0;
}

/* ---- looking a file up through the stack ------------------------------------ */

bool stat_is_whiteout(const struct stat *st) {
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool fd_is_opaque(int fd) {
        char proc[64], v[2];

        (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        return getxattr(proc, "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y';
}

/* Whether what lies below `layer` at `path` is hidden by `layer`: one of
 * path's directories is, in this layer, not a directory (a whiteout, a
 * file), or an opaque one. */
static bool layer_hides_below(int layer, const char *path) {
        _cleanup_free_ char *copy = strdup(path);

        if (!copy)
                return false;
        for (char *slash = copy; (slash = strchr(slash + 1, '/'));) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                *slash = '\0';
                fd = safe_open_at(layer, copy, O_PATH | O_NOFOLLOW, 0);
                *slash = '/';
                if (fd == -ENOENT)
                        return false;
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || fd_is_opaque(fd))
                        return true;
        }
        return false;
}

/* Joins a symlink's target to the directory of `path`, lexically: "." and
 * ".." as the guest's kernel would see them inside its root. */
static char *symlink_resolve(const char *path, const char *target) {
        _cleanup_free_ char *joined = NULL;
        char *out, *o;

        if (target[0] == '/')
                joined = strdup(target);
        else if (asprintf(&joined, "%.*s/%s", (int) (strrchr(path, '/') - path), path, target) < 0)
                joined = NULL;
        if (!joined || !(out = malloc(strlen(joined) + 2)))
                return NULL;
        o = out;
        for (const char *c = joined; *c;) {
                size_t len;

                c += strspn(c, "/");
                len = strcspn(c, "/");
                if (len == 0 || (len == 1 && c[0] == '.'))
                        ;
                else if (len == 2 && c[0] == '.' && c[1] == '.') {
                        while (o > out && *--o != '/')
                                ;
                } else {
                        *o++ = '/';
                        memcpy(o, c, len);
                        o += len;
                }
                c += len;
        }
        if (o == out)
                *o++ = '/';
        *o = '\0';
        return out;
}

/* One lookup of PATH (absolute, normalized) top-down: 1 and the fd of what
 * the top-most layer has there (not followed), 0 if no layer has it. */
static int stack_lookup(const int *layers, size_t n, const char *path, int *ret_fd) {
        for (size_t i = 0; i < n; i++) {
                int fd = safe_open_at(layers[i], path, O_PATH | O_NOFOLLOW, 0);

                if (fd >= 0) {
                        *ret_fd = fd;
                        return 1;
                }
                if (layer_hides_below(layers[i], path))
                        return 0;
        }
        return 0;
}

static int stack_find_fds(const int *layers, size_t n, const char *path, char **ret) {
        _cleanup_free_ char *cur = path[0] == '/' ? strdup(path) : path_join("/", path);

        for (unsigned hop = 0; cur && hop < 16; hop++) {
                _cleanup_close_ int fd = -EBADF;
                char proc[64], target[PATH_MAX];
                struct stat st;
                ssize_t k;
                char *next;

                if (stack_lookup(layers, n, cur, &fd) <= 0 || fstat(fd, &st) < 0 || stat_is_whiteout(&st))
                        return -ENOENT;
                (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                if (!S_ISLNK(st.st_mode)) {
                        k = readlink(proc, target, sizeof target - 1);
                        if (k < 0)
                                return -errno;
                        target[k] = '\0';
                        *ret = strdup(target);
                        return *ret ? 0 : -ENOMEM;
                }
                k = readlinkat(fd, "", target, sizeof target - 1);
                if (k < 0)
                        return -errno;
                target[k] = '\0';
                next = symlink_resolve(cur, target);
                free(cur);
                cur = next;
        }
        return cur ? -ELOOP : -ENOMEM;
}

int layer_stack_find(char *const *dirs, const char *path, char **ret) {
        size_t n = strv_length(dirs);
        _cleanup_free_ int *fds = calloc(n ?: 1, sizeof(int));
        int r = 0;

        if (!fds)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fds[i] = -EBADF;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = safe_fs_open_root(dirs[i], &fds[i]);
        if (r >= 0)
                r = stack_find_fds(fds, n, path, ret);
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
        return r;
}

/* ---- the kernel and initrd of a layered base --------------------------------- */

static int resolve_boot_file(char *const *dirs, const char *configured, const char *const *candidates, char **ret) {
        const char *const one[] = { configured, NULL };

        if (configured && configured[0] == '/')
                return (*ret = strdup(configured)) ? 0 : -ENOMEM;
        for (const char *const *c = configured ? one : candidates; *c; c++) {
                int r = layer_stack_find(dirs, *c, ret);

                /* Anything else unusable is as good as absent here. */
                if (r == 0 || r == -ENOMEM)
                        return r;
        }
        /* Not there: name the first candidate in the top layer, so that an
         * error names it. */
        if (configured) {
                *ret = path_join(dirs[0], configured);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = NULL;
        return 0;
}

int layer_chain_resolve_boot_files(VmDefinition *d) {
        static const char *const kernels[] = { "boot/vmlinuz", "vmlinuz", NULL };
        static const char *const initrds[] = { "boot/initrd.img", "initrd.img", NULL };
        _cleanup_(strv_freep) char **dirs = NULL;
        int r;

        /* The base's layers only: the VM's own snapshot layers are the
         * guest's writing, like its upper, and do not choose its kernel. */
        if (d->base[0] == '/' || base_chain_dirs(d, &dirs) < 0 || strv_length(dirs) < 2)
                return 0;
        free(d->kernel_path);
        free(d->initrd_path);
        d->kernel_path = d->initrd_path = NULL;
        r = resolve_boot_file(dirs, d->kernel, kernels, &d->kernel_path);
        if (r >= 0 && !d->kernel_path && !(d->kernel_path = path_join(dirs[0], kernels[0])))
                r = -ENOMEM;
        if (r >= 0)
                r = resolve_boot_file(dirs, d->initrd, initrds, &d->initrd_path);
        return r;
}
