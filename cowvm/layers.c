/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * cowvm snapshot|snapshots|reset|commit: a VM's layers (docs/layers.md).
 * Every change is a rename and a new empty directory; the order of the
 * steps is chosen so that an interruption leaves either the old state or
 * one overlay-prepare refuses with a message (never a tree that silently
 * differs), and never loses a layer: discarded layers go to a trash
 * directory first and are deleted last.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base-record.h"
#include "cowvm.h"
#include "disk-limit.h"
#include "layer-chain.h"
#include "log.h"
#include "overlay-util.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"

typedef struct Vm {
        VmDefinition *def;
        int lock_fd;
        SnapshotList snaps;
} Vm;

static void vm_done(Vm *vm) {
        vm_definition_free(vm->def);
        safe_close(vm->lock_fd);
        snapshot_list_done(&vm->snaps);
}

static char *state_path(const Vm *vm, const char *name) {
        return path_join(vm->def->layout.state_dir, name);
}

/* Loads NAME, locks its state directory against overlay-prepare and
 * other cowvm runs, refuses a running VM and reads its snapshots. */
static int vm_open(const char *name, Vm *ret) {
        _cleanup_(vm_done) Vm vm = { .lock_fd = -EBADF };
        int r;

        r = vm_definition_load(name, &vm.def);
        if (r < 0)
                return r;
        if (vm.def->ephemeral)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "VM %s is ephemeral (Ephemeral=yes in '%s'): it has no disk to keep layers "
                                       "of.",
                                       name, vm.def->path);
        vm.lock_fd = open(vm.def->layout.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (vm.lock_fd < 0 && errno == ENOENT)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                       "VM %s has no disk yet ('%s' does not exist): start it once first.", name,
                                       vm.def->layout.state_dir);
        if (vm.lock_fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", vm.def->layout.state_dir);
        if (flock(vm.lock_fd, LOCK_EX) < 0)
                return log_error_errno(errno, "Failed to lock '%s': %m", vm.def->layout.state_dir);
        r = vm_is_running(vm.def);
        if (r < 0)
                return log_error_errno(r, "Failed to find out whether VM %s is running: %m", name);
        if (r > 0)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY), "VM %s is running; stop it first: systemctl stop vm@%s",
                                       name, name);
        r = snapshot_list_read(vm.def->layout.state_dir, &vm.snaps);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s/snapshots': %m", vm.def->layout.state_dir);
        *ret = vm;
        vm = (Vm) { .lock_fd = -EBADF };
        return 0;
}

static int stat_dir(const char *path, struct stat *st) {
        if (lstat(path, st) < 0)
                return -errno;
        return S_ISDIR(st->st_mode) ? 0 : -ENOTDIR;
}

/* An empty directory with the mode and owner the guest's "/" had. */
static int make_dir_like(const char *path, const struct stat *like) {
        if (mkdir(path, like->st_mode & 07777) < 0)
                return log_error_errno(errno, "Failed to create '%s': %m", path);
        if (chown(path, like->st_uid, like->st_gid) < 0 || chmod(path, like->st_mode & 07777) < 0)
                return log_error_errno(errno, "Failed to set the owner and mode of '%s': %m", path);
        return 0;
}

static int make_trash(const Vm *vm, char **ret) {
        _cleanup_free_ char *t = NULL;

        if (asprintf(&t, "%s/trash.XXXXXX", vm->def->layout.state_dir) < 0)
                return log_oom();
        if (!mkdtemp(t))
                return log_error_errno(errno, "Failed to create a directory in '%s': %m", vm->def->layout.state_dir);
        *ret = TAKE_PTR(t);
        return 0;
}

/* Moves `name` of the state directory into the trash, if it is there. */
static int trash_entry(const Vm *vm, const char *trash, const char *name, const char *as) {
        _cleanup_free_ char *from = state_path(vm, name), *to = path_join(trash, as);

        if (!from || !to)
                return log_oom();
        if (rename(from, to) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to move '%s' to '%s': %m", from, to);
        return 0;
}

/* overlayfs' work directory belongs to the upper it served. */
static int renew_work(const Vm *vm, const char *trash) {
        _cleanup_free_ char *work = state_path(vm, "work");
        int r;

        if (!work)
                return log_oom();
        r = trash_entry(vm, trash, "work", "work");
        if (r < 0)
                return r;
        if (mkdir(work, 0700) < 0)
                return log_error_errno(errno, "Failed to create '%s': %m", work);
        return 0;
}

/* Trash left by a run that was interrupted after the VM's new state was
 * in place: it holds nothing that is still part of the VM. */
static void sweep_trash(const Vm *vm) {
        _cleanup_(closedirp) DIR *dir = opendir(vm->def->layout.state_dir);
        struct dirent *de;

        while (dir && (de = readdir(dir))) {
                _cleanup_free_ char *p = NULL;

                if (strncmp(de->d_name, "trash.", 6) != 0 || !(p = state_path(vm, de->d_name)))
                        continue;
                (void) remove_tree(p);
        }
}

/* The upper becomes `layer`, read-only from now on; the VM gets a new empty
 * upper like it and an emptied work directory. */
static int upper_to_layer(Vm *vm, const char *upper, const char *layer, const struct stat *st) {
        _cleanup_free_ char *trash = NULL;
        int r;

        if (rename(upper, layer) < 0)
                return log_error_errno(errno, "Failed to rename '%s' to '%s': %m", upper, layer);
        r = make_dir_like(upper, st);
        if (r >= 0)
                r = make_trash(vm, &trash);
        if (r >= 0)
                r = renew_work(vm, trash);
        if (trash)
                (void) remove_tree(trash); /* the old work directory's contents */
        return r;
}

/* A snapshot interrupted after the list named its layer but before the
 * upper was renamed to it: finish it. */
static int complete_snapshot(Vm *vm) {
        _cleanup_free_ char *layer = NULL, *upper = NULL;
        struct stat st;

        if (vm->snaps.n == 0)
                return 0;
        layer = snapshot_layer_dir(vm->def->layout.state_dir, vm->snaps.items[vm->snaps.n - 1].num);
        upper = state_path(vm, "upper");
        if (!layer || !upper)
                return log_oom();
        if (access(layer, F_OK) >= 0 || stat_dir(upper, &st) < 0)
                return 0;
        log_notice("VM %s: completing its interrupted snapshot '%s'.", vm->def->name,
                   vm->snaps.items[vm->snaps.n - 1].label);
        return upper_to_layer(vm, upper, layer, &st);
}

static int vm_open_checked(const char *name, Vm *ret) {
        int r = vm_open(name, ret);

        if (r < 0)
                return r;
        sweep_trash(ret);
        return complete_snapshot(ret);
}

/* ---- snapshot ------------------------------------------------------------- */

static int check_options_fit(Vm *vm, unsigned num) {
        _cleanup_free_ char *options = NULL, *layer = snapshot_layer_dir(vm->def->layout.state_dir, num), *e = NULL;
        size_t len;

        if (!layer || overlay_mount_options(vm->def, &options) < 0 || !(e = overlay_escape_path(layer)))
                return log_oom();
        len = strlen(options) + 1 + strlen(e);
        if (len > LAYER_CHAIN_MAX_OPTIONS)
                return log_error_errno(SYNTHETIC_ERRNO(E2BIG),
                                       "VM %s has %zu snapshots; one more would make its mount options %zu bytes, "
                                       "more than fit in a page (%d). Reset it to an older snapshot, or commit it "
                                       "to a base.",
                                       vm->def->name, vm->snaps.n, len, LAYER_CHAIN_MAX_OPTIONS);
        return 0;
}

static int snapshot_take(Vm *vm, const char *label_arg) {
        _cleanup_free_ char *upper = state_path(vm, "upper"), *layers = state_path(vm, "layers"), *layer = NULL;
        char label[SNAPSHOT_LABEL_MAX + 1];
        unsigned num = vm->snaps.n > 0 ? vm->snaps.items[vm->snaps.n - 1].num + 1 : 1;
        struct stat st;
        int r;

        if (!upper || !layers || !(layer = snapshot_layer_dir(vm->def->layout.state_dir, num)))
                return log_oom();
        (void) snprintf(label, sizeof label, "%s", label_arg ?: "");
        if (!label_arg)
                (void) snprintf(label, sizeof label, "%u", num);
        if (!label_arg ? false : !snapshot_label_is_valid(label_arg))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Invalid snapshot label '%s': use up to %d letters, digits, '.', '_' and "
                                       "'-', not starting with '.' or '-'.",
                                       label_arg, SNAPSHOT_LABEL_MAX);
        if (snapshot_list_find(&vm->snaps, label) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EEXIST), "VM %s already has a snapshot '%s'.", vm->def->name,
                                       label);
        r = stat_dir(upper, &st);
        if (r < 0)
                return log_error_errno(r, "VM %s has no upper layer '%s' (%m): start it once first.", vm->def->name,
                                       upper);
        r = check_options_fit(vm, num);
        if (r < 0)
                return r;
        if (mkdir(layers, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create '%s': %m", layers);

        /* The list first: interrupted now, the VM refuses to start until
         * the next cowvm run completes the rename. */
        r = snapshot_list_add(&vm->snaps, num, (int64_t) time(NULL), label);
        if (r >= 0)
                r = snapshot_list_write(vm->def->layout.state_dir, &vm->snaps);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s/snapshots': %m", vm->def->layout.state_dir);
        r = upper_to_layer(vm, upper, layer, &st);
        if (r < 0)
                return r;
        log_info("VM %s: snapshot '%s' is layer %s.", vm->def->name, label, layer);
        return 0;
}

int verb_snapshot(int argc, char *argv[]) {
        _cleanup_(vm_done) Vm vm = { .lock_fd = -EBADF };
        int r;

        if (argc < 2 || argc > 3)
                return usage_error("cowvm snapshot NAME [LABEL]");
        r = vm_open_checked(argv[1], &vm);
        if (r < 0)
                return r;
        return snapshot_take(&vm, argc == 3 ? argv[2] : NULL);
}

/* ---- snapshots ------------------------------------------------------------ */

int verb_snapshots(int argc, char *argv[]) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        _cleanup_(snapshot_list_done) SnapshotList l = {};
        _cleanup_free_ char *upper = NULL;
        char size[32], when[64];
        int r;

        if (argc != 2)
                return usage_error("cowvm snapshots NAME");
        r = vm_definition_load(argv[1], &d);
        if (r < 0)
                return r;
        r = snapshot_list_read(d->layout.state_dir, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s/snapshots': %m", d->layout.state_dir);
        printf("%-4s %-32s %-20s %8s\n", "NUM", "LABEL", "TIME", "SIZE");
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_free_ char *dir = snapshot_layer_dir(d->layout.state_dir, l.items[i].num);
                time_t t = (time_t) l.items[i].time;
                struct tm tm;

                if (!dir)
                        return log_oom();
                (void) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
                printf("%-4u %-32s %-20s %8s\n", l.items[i].num, l.items[i].label, when,
                       format_size(size, sizeof size, tree_disk_usage(dir)));
        }
        upper = path_join(d->layout.state_dir, "upper");
        if (!upper)
                return log_oom();
        printf("%-4s %-32s %-20s %8s\n", "-", "(upper: the VM's disk now)", "-",
               format_size(size, sizeof size, tree_disk_usage(upper)));
        printf("base: %s\n", d->base);
        return 0;
}

/* ---- reset ---------------------------------------------------------------- */

/* The guest's "/" at the state it goes back to: the snapshot's, or the
 * base's. */
static int root_attributes(const Vm *vm, size_t keep, struct stat *ret) {
        _cleanup_free_ char *dir =
                keep > 0 ? snapshot_layer_dir(vm->def->layout.state_dir, vm->snaps.items[keep - 1].num)
                         : strdup(vm->def->base_dir);
        int r;

        if (!dir)
                return log_oom();
        r = stat_dir(dir, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to stat '%s': %m", dir);
        return 0;
}

static int reset_to(Vm *vm, size_t keep) {
        _cleanup_free_ char *upper = state_path(vm, "upper"), *trash = NULL;
        size_t n = vm->snaps.n;
        struct stat st;
        int r;

        if (!upper)
                return log_oom();
        r = root_attributes(vm, keep, &st);
        if (r >= 0)
                r = make_trash(vm, &trash);
        /* The upper first: interrupted after this, the VM is at its newest
         * snapshot, a state it had. */
        if (r >= 0)
                r = trash_entry(vm, trash, "upper", "upper");
        if (r >= 0)
                r = make_dir_like(upper, &st);
        if (r >= 0)
                r = renew_work(vm, trash);
        if (r < 0)
                return r;
        for (size_t i = keep; i < n; i++)
                free(vm->snaps.items[i].label);
        vm->snaps.n = keep;
        r = snapshot_list_write(vm->def->layout.state_dir, &vm->snaps);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s/snapshots': %m", vm->def->layout.state_dir);
        for (size_t i = keep; i < n; i++) {
                char from[32], to[32];

                (void) snprintf(from, sizeof from, "layers/%u", vm->snaps.items[i].num);
                (void) snprintf(to, sizeof to, "%u", vm->snaps.items[i].num);
                r = trash_entry(vm, trash, from, to);
                if (r < 0)
                        return r;
        }
        /* The VM may start now; what was discarded goes meanwhile (a
         * later cowvm run on the VM deletes what an interruption left). */
        vm->lock_fd = safe_close(vm->lock_fd);
        (void) remove_tree_detached(trash);
        return 0;
}

int verb_reset(int argc, char *argv[]) {
        _cleanup_(vm_done) Vm vm = { .lock_fd = -EBADF };
        size_t keep = 0;
        int r;

        if (argc < 2 || argc > 3)
                return usage_error("cowvm reset NAME [LABEL]");
        r = vm_open_checked(argv[1], &vm);
        if (r < 0)
                return r;
        if (argc == 3) {
                r = snapshot_list_find(&vm.snaps, argv[2]);
                if (r < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                               "VM %s has no snapshot '%s'; 'cowvm snapshots %s' lists them.", argv[1],
                                               argv[2], argv[1]);
                keep = (size_t) r + 1;
        }
        r = reset_to(&vm, keep);
        if (r < 0)
                return r;
        if (argc == 3)
                log_info("VM %s: back at snapshot '%s'.", argv[1], argv[2]);
        else
                log_info("VM %s: back at its base '%s'.", argv[1], vm.def->base);
        return 0;
}

/* ---- commit --------------------------------------------------------------- */

/* What config-inject writes for one VM alone (config-inject(8)). A layer
 * that becomes a base loses its copy of each, so that the parent's version
 * (a pristine base has none of a VM's) shows through, and every VM made
 * from the new base gets its own at its first start. */
static const char *const identity_files[] = {
        "etc/hostname",
        "etc/hosts",
        "etc/machine-id",
        "var/lib/dbus/machine-id",
        "etc/shadow",
        "etc/netplan/90-cowvm.yaml",
        "etc/systemd/network/90-cowvm.network",
        "root/.ssh/authorized_keys",
};

/* Entries of DIR in the layer whose names start with PREFIX (ssh host
 * keys), or every NAME/SUFFIX below DIR (authorized_keys of each home). */
static void strip_each(int layer_fd, const char *dir, const char *prefix, const char *suffix) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = safe_open_at(layer_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (fd < 0 || !(d = fdopendir(fd))) {
                safe_close(fd);
                return;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.' || (prefix && strncmp(de->d_name, prefix, strlen(prefix)) != 0))
                        continue;
                if (asprintf(&p, "%s/%s%s%s", dir, de->d_name, suffix ? "/" : "", strempty(suffix)) < 0)
                        continue;
                if (safe_unlink_at(layer_fd, p) > 0)
                        log_debug("Removed '%s' from the committed layer.", p);
        }
}

/* The layer was the guest's to write: every path is resolved inside it. */
static int strip_identity(const char *layer) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = safe_fs_open_root(layer, &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open layer '%s': %m", layer);
        for (size_t i = 0; i < ELEMENTSOF(identity_files); i++) {
                r = safe_unlink_at(fd, identity_files[i]);
                if (r == -EISDIR)
                        log_warning("Layer '%s' has a directory at /%s; leaving it (config-inject refuses it at "
                                    "the first start of a VM made from the new base).",
                                    layer, identity_files[i]);
                else if (r < 0 && r != -ENOENT && r != -ENOTDIR && r != -EXDEV && r != -ELOOP)
                        return log_error_errno(r, "Failed to remove '%s' from layer '%s': %m", identity_files[i],
                                               layer);
        }
        strip_each(fd, "etc/ssh", "ssh_host_", NULL);
        strip_each(fd, "home", NULL, ".ssh/authorized_keys");
        return 0;
}

static bool new_base_name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 64 && strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", s[0]) &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n &&
               !strstr(s, ".tmp-");
}

static int write_base_records(const char *name, const char *parent) {
        _cleanup_free_ char *dir = path_join3(cowvm_state_dir(), "bases", name), *pfile = base_parent_file(name),
                            *line = NULL;
        _cleanup_close_ int root = -EBADF, bases = -EBADF;
        unsigned char rnd[16];
        char id[96], stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        int n = 0, r;

        if (!dir || !pfile || asprintf(&line, "%s\n", parent) < 0)
                return log_oom();
        r = safe_fs_open_root(dir, &root);
        if (r >= 0)
                r = safe_mkdir_p_at(root, "etc", 0755, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to prepare '%s/etc': %m", dir);
        if (getentropy(rnd, sizeof rnd) < 0)
                return log_error_errno(errno, "Failed to get random bytes: %m");
        (void) strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
        for (size_t i = 0; i < sizeof rnd; i++)
                n += snprintf(id + n, sizeof id - (size_t) n, "%02x", rnd[i]);
        (void) snprintf(id + n, sizeof id - (size_t) n, "-%s\n", stamp);
        /* The layer's own identity, which VMs over it record. */
        r = safe_write_file_atomic_at(root, "etc/cowvm-base-id", id, strlen(id), 0644, 0, 0, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s/etc/cowvm-base-id': %m", dir);
        bases = open(cowvm_state_dir(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (bases < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", cowvm_state_dir());
        r = safe_write_file_atomic_at(bases, pfile + strlen(cowvm_state_dir()), line, strlen(line), 0600, 0, 0, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", pfile);
        return 0;
}

/* Moves layer FROM to bases/NAME standing on PARENT. */
static int publish_layer(const char *from, const char *name, const char *parent) {
        _cleanup_free_ char *to = path_join3(cowvm_state_dir(), "bases", name);
        int r;

        if (!to)
                return log_oom();
        if (rename(from, to) < 0)
                return log_error_errno(errno, "Failed to move '%s' to '%s': %m", from, to);
        r = write_base_records(name, parent);
        if (r < 0)
                return r;
        log_info("Base '%s' (on '%s') is the former '%s'.", name, parent, from);
        return 0;
}

/* Base=NEWBASE in the [VM] section of the VM's own file: its Base= line
 * replaced, or one added after the section header (or a section added). */
static int definition_set_base(const VmDefinition *d, const char *base) {
        _cleanup_free_ char *data = NULL, *out = NULL, *dir = strdup(d->path), *name = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        bool in_vm = false, done = false;
        size_t size, out_size = 0;
        FILE *o;
        int r;

        if (!dir || !(name = strdup(strrchr(d->path, '/') + 1)))
                return log_oom();
        *strrchr(dir, '/') = '\0';
        dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", dir);
        r = safe_read_file_at(dir_fd, name, 1024 * 1024, &data, &size, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", d->path);
        o = open_memstream(&out, &out_size);
        if (!o)
                return log_oom();
        for (char *line = data, *next; line && *line; line = next) {
                const char *t = line + strspn(line, " \t");

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (t[0] == '[') {
                        if (in_vm && !done)
                                fprintf(o, "Base=%s\n", base), done = true;
                        in_vm = strncmp(t, "[VM]", 4) == 0;
                        fprintf(o, "%s\n", line);
                        continue;
                }
                if (in_vm && strncmp(t, "Base", 4) == 0 && t[4 + strspn(t + 4, " \t")] == '=') {
                        if (!done)
                                fprintf(o, "Base=%s\n", base);
                        done = true;
                        continue;
                }
                fprintf(o, "%s\n", line);
        }
        if (!done)
                fprintf(o, "%sBase=%s\n", in_vm ? "" : "\n[VM]\n", base);
        if (fclose(o) != 0)
                return log_oom();
        r = safe_write_file_atomic_at(dir_fd, name, out, out_size, 0644, 0, 0, SAFE_WRITE_KEEP_ATTRS);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", d->path);
        return 0;
}

static char *intermediate_name(const char *base, const Snapshot *s) {
        char *n;

        if (asprintf(&n, "%s.%s", base, s->label) < 0)
                return NULL;
        return n;
}

static int check_new_base(const char *name) {
        _cleanup_free_ char *dir = path_join3(cowvm_state_dir(), "bases", name), *pfile = base_parent_file(name);

        if (!dir || !pfile)
                return log_oom();
        if (!new_base_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Invalid base name '%s': use up to 64 letters, digits, '.', '_' and '-', "
                                       "starting with a letter or digit.",
                                       name);
        if (access(dir, F_OK) >= 0 || access(pfile, F_OK) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EEXIST), "There already is a base '%s' in %s/bases.", name,
                                       cowvm_state_dir());
        return 0;
}

/* The commit ends by setting Base= in the VM's file: checked first. */
static int check_definition_writable(const VmDefinition *d) {
        _cleanup_free_ char *dir = strdup(d->path);

        if (!dir)
                return log_oom();
        *strrchr(dir, '/') = '\0';
        if (access(dir, W_OK) < 0)
                return log_error_errno(errno,
                                       "Cannot write '%s' (%m), where the VM's definition '%s' would get "
                                       "Base=NEWBASE. Copy it to /etc/cowvm first.",
                                       dir, d->path);
        return 0;
}

/* Everything that could fail is checked before the first rename. */
static int commit_check(Vm *vm, const char *newbase) {
        _cleanup_free_ char *upper = state_path(vm, "upper"), *bases = path_join(cowvm_state_dir(), "bases");
        struct stat su, sb;
        int r;

        if (!upper || !bases)
                return log_oom();
        if (vm->def->base[0] == '/')
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "VM %s stands on Base=%s, a path: a committed base stands on a base of %s, "
                                       "named in Base=.",
                                       vm->def->name, vm->def->base, bases);
        r = check_new_base(newbase);
        for (size_t i = 0; r >= 0 && i < vm->snaps.n; i++) {
                _cleanup_free_ char *n = intermediate_name(newbase, &vm->snaps.items[i]);

                r = n ? check_new_base(n) : log_oom();
        }
        if (r < 0)
                return r;
        r = check_definition_writable(vm->def);
        if (r < 0)
                return r;
        if (stat_dir(upper, &su) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT), "VM %s has no upper layer '%s': start it once first.",
                                       vm->def->name, upper);
        if (stat(bases, &sb) < 0)
                return log_error_errno(errno, "Failed to stat '%s': %m", bases);
        if (su.st_dev != sb.st_dev)
                return log_error_errno(SYNTHETIC_ERRNO(EXDEV),
                                       "'%s' and '%s' are on different file systems (or btrfs subvolumes): a commit "
                                       "moves the VM's layers into the base store and never copies them.",
                                       upper, bases);
        return 0;
}

static int commit_publish(Vm *vm, const char *newbase) {
        _cleanup_free_ char *parent = strdup(vm->def->base), *upper = state_path(vm, "upper");
        int r;

        if (!parent || !upper)
                return log_oom();
        /* All of them before the first rename: a layer that cannot be
         * stripped stops the commit with nothing moved. */
        for (size_t i = 0; i <= vm->snaps.n; i++) {
                _cleanup_free_ char *dir =
                        i < vm->snaps.n ? snapshot_layer_dir(vm->def->layout.state_dir, vm->snaps.items[i].num)
                                        : strdup(upper);

                r = dir ? strip_identity(dir) : log_oom();
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < vm->snaps.n; i++) {
                _cleanup_free_ char *n = intermediate_name(newbase, &vm->snaps.items[i]),
                                    *dir = snapshot_layer_dir(vm->def->layout.state_dir, vm->snaps.items[i].num);

                if (!n || !dir)
                        return log_oom();
                r = publish_layer(dir, n, parent);
                if (r < 0)
                        return r;
                free(parent);
                parent = TAKE_PTR(n);
        }
        return publish_layer(upper, newbase, parent);
}

/* The VM's record of its base (base-record.h): now NEWBASE's
 * chain, so that cowvm-mkbase sees at once who stands on it. */
static int write_vm_base_record(Vm *vm, const char *newbase, const char *dir) {
        _cleanup_free_ char *id = NULL;
        _cleanup_close_ int base_fd = -EBADF, state_fd = -EBADF;
        VmDefinition over = *vm->def;
        int r;

        over.base = (char *) newbase;
        over.base_dir = (char *) dir;
        r = safe_fs_open_root(dir, &base_fd);
        if (r >= 0)
                r = layer_chain_identity(&over, base_fd, &id);
        if (r < 0)
                return log_error_errno(r, "Failed to identify the new base '%s': %m", dir);
        state_fd = open(vm->def->layout.state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (state_fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", vm->def->layout.state_dir);
        r = base_record_write(state_fd, dir, id);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", vm->def->layout.base_record);
        return 0;
}

int verb_commit(int argc, char *argv[]) {
        _cleanup_(vm_done) Vm vm = { .lock_fd = -EBADF };
        _cleanup_free_ char *upper = NULL, *top = NULL, *layers = NULL, *trash = NULL;
        struct stat st;
        int r;

        if (argc != 3)
                return usage_error("cowvm commit NAME NEWBASE");
        r = vm_open_checked(argv[1], &vm);
        if (r < 0)
                return r;
        r = commit_check(&vm, argv[2]);
        if (r < 0)
                return r;
        r = commit_publish(&vm, argv[2]);
        if (r < 0)
                return r;

        /* The VM goes on over the new base, with an empty upper. */
        upper = state_path(&vm, "upper");
        top = path_join3(cowvm_state_dir(), "bases", argv[2]);
        layers = state_path(&vm, "layers");
        if (!upper || !top || !layers)
                return log_oom();
        r = stat_dir(top, &st);
        if (r < 0)
                return log_error_errno(r, "Failed to stat '%s': %m", top);
        r = make_dir_like(upper, &st);
        if (r >= 0)
                r = make_trash(&vm, &trash);
        if (r >= 0)
                r = renew_work(&vm, trash);
        if (r < 0)
                return r;
        snapshot_list_done(&vm.snaps);
        r = snapshot_list_write(vm.def->layout.state_dir, &vm.snaps);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s/snapshots': %m", vm.def->layout.state_dir);
        (void) rmdir(layers);
        r = write_vm_base_record(&vm, argv[2], top);
        if (r < 0)
                return r;
        r = definition_set_base(vm.def, argv[2]);
        if (r < 0)
                return r;
        log_info("VM %s now runs over base '%s' ('%s' says Base=%s).", argv[1], argv[2], vm.def->path, argv[2]);
        (void) remove_tree(trash);
        return 0;
}
