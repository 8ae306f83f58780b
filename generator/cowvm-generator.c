/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * cowvm-generator: turns VM definitions into units, following
 * systemd.generator(7). For every valid NAME.vm it writes
 *
 *   run-cowvm-NAME-root.mount          the VM's overlay root (mount units
 *                                      cannot be templates, so one per VM)
 *   machine-cowvm-NAME.slice           the VM's resource limits, for all
 *                                      of its processes together
 *   vm@NAME.service.d/50-cowvm.conf    ties vm@NAME to its root and its
 *                                      virtiofsd socket; its slice; timeouts
 *   virtiofsd@NAME.service.d/50-cowvm.conf   its slice
 *   machines.target.wants/vm@NAME.service   with Autostart=yes
 *   the network's units, with Bridge= (network-units.c)
 *
 * It writes nothing else anywhere, talks to nobody, and one bad file costs
 * only that VM: the problem is logged (to /dev/kmsg) and the run goes on.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk-limit.h"
#include "log.h"
#include "main-func.h"
#include "network-units.h"
#include "overlay-util.h"
#include "path-util.h"
#include "strv.h"
#include "unit-name.h"
#include "vm-definition.h"

typedef struct Entry {
        char *name;
        char *path;
} Entry;

typedef struct EntryList {
        Entry *entries;
        size_t n;
} EntryList;

static void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->entries[i].name);
                free(l->entries[i].path);
        }
        free(l->entries);
}

static int entry_compare(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->name, ((const Entry *) b)->name);
}

static const Entry *entry_list_find(const EntryList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->entries[i].name, name))
                        return l->entries + i;
        return NULL;
}

static int dirent_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static void free_dirents(struct dirent **l, int n) {
        for (int i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

/* Collects NAME.vm files, the first directory that has a NAME winning. A
 * name that is already taken by a higher-priority directory is skipped
 * silently (that is the override mechanism); a masked one is recorded with
 * path NULL so lower directories cannot resurrect it. Each directory is
 * read in name order, so that runs (and their messages) are reproducible. */
static int collect_definitions(EntryList *ret) {
        _cleanup_(entry_list_done) EntryList l = {};

        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                _cleanup_close_ int dir_fd = -EBADF;
                struct dirent **des = NULL;
                int n;

                dir_fd = open(*dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dir_fd < 0) {
                        if (errno != ENOENT)
                                log_warning_errno(errno, "Failed to open '%s', ignoring: %m", *dir);
                        continue;
                }
                n = scandirat(dir_fd, ".", &des, NULL, dirent_compare);
                if (n < 0) {
                        log_warning_errno(errno, "Failed to read '%s', ignoring: %m", *dir);
                        continue;
                }

                for (int i = 0; i < n; i++) {
                        const char *fn = des[i]->d_name;
                        _cleanup_free_ char *name = NULL, *path = NULL;
                        size_t len = strlen(fn), slen = strlen(VM_DEFINITION_SUFFIX);
                        struct stat st;
                        Entry *grown;

                        if (fn[0] == '.' || len <= slen || !streq(fn + len - slen, VM_DEFINITION_SUFFIX))
                                continue;

                        name = strndup(fn, len - slen);
                        path = path_join(*dir, fn);
                        if (!name || !path) {
                                free_dirents(des, n);
                                return log_oom();
                        }

                        if (!vm_name_is_valid(name)) {
                                log_error("Ignoring '%s': '%s' is not a valid VM name (use a-z, 0-9 and '-', "
                                          "at most %d characters, no '-' at either end).",
                                          path, name, VM_NAME_MAX);
                                continue;
                        }
                        if (entry_list_find(&l, name))
                                continue;

                        if (fstatat(dir_fd, fn, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                log_warning_errno(errno, "Failed to stat '%s', ignoring: %m", path);
                                continue;
                        }
                        if (path_is_masked(path, &st)) {
                                log_debug("VM '%s' is masked by '%s'.", name, path);
                                path = mfree(path);
                        }

                        grown = realloc(l.entries, sizeof(Entry) * (l.n + 1));
                        if (!grown) {
                                free_dirents(des, n);
                                return log_oom();
                        }
                        l.entries = grown;
                        l.entries[l.n++] = (Entry) { TAKE_PTR(name), TAKE_PTR(path) };
                }
                free_dirents(des, n);
        }

        /* Sorted by name across directories, for the same reason. */
        qsort(l.entries, l.n, sizeof(Entry), entry_compare);
        *ret = l;
        l = (EntryList) {};
        return 0;
}

/* Opens DIR/NAME for writing with "wxe": a second writer of one unit is a
 * bug we want to hear about, not to paper over. */
static int open_unit_file(int dir_fd, const char *dir, const char *name, FILE **ret) {
        _cleanup_close_ int fd = -EBADF;
        FILE *f;

        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create unit file '%s/%s': %m", dir, name);
        f = fdopen(fd, "we");
        if (!f)
                return log_error_errno(errno, "Failed to open unit file '%s/%s': %m", dir, name);
        TAKE_FD(fd);
        *ret = f;
        return 0;
}

static int close_unit_file(FILE *f, const char *dir, const char *name) {
        int r = 0;

        if (fflush(f) != 0 || ferror(f))
                r = log_error_errno(errno ?: EIO, "Failed to write unit file '%s/%s': %m", dir, name);
        if (fclose(f) != 0 && r == 0)
                r = log_error_errno(errno, "Failed to write unit file '%s/%s': %m", dir, name);
        return r;
}

static void write_header(FILE *f, const VmDefinition *d) {
        fputs("# Automatically generated by cowvm-generator from ", f);
        fputs(d->path, f);
        fputs("\n\n[Unit]\nSourcePath=", f);
        fputs_unit_value(d->path, f);
        fputc('\n', f);
}

static int write_mount_unit(int dir_fd, const char *dir, const VmDefinition *d) {
        _cleanup_free_ char *unit = NULL, *options = NULL;
        FILE *f;
        int r;

        r = unit_name_from_path(d->root_dir, ".mount", &unit);
        if (r < 0)
                return log_error_errno(r, "Failed to make a mount unit name for '%s': %m", d->root_dir);
        r = overlay_mount_options(d, &options);
        if (r < 0)
                return log_oom();

        r = open_unit_file(dir_fd, dir, unit, &f);
        if (r < 0)
                return r;

        write_header(f, d);
        fprintf(f,
                "Description=Root filesystem of VM %s\n"
                "Documentation=man:cowvm.vm(5)\n"
                /* Default dependencies would order this mount before
                 * local-fs.target, which overlay-prepare@ (a service) comes
                 * after: a cycle. Keep the shutdown ordering by hand. */
                "DefaultDependencies=no\n"
                "Conflicts=umount.target\n"
                "Before=umount.target\n"
                "After=local-fs.target\n"
                "Requires=overlay-prepare@%s.service\n"
                "After=overlay-prepare@%s.service\n"
                "BindsTo=vm@%s.service\n"
                "\n[Mount]\n"
                "What=overlay\n"
                "Type=overlay\n"
                "Where=",
                d->name, d->name, d->name, d->name);
        fputs_unit_value(d->root_dir, f);
        fputs("\nOptions=", f);
        fputs_unit_value(options, f);
        fputc('\n', f);

        return close_unit_file(f, dir, unit);
}

/* Creates DIR/UNIT.d/ and opens 50-cowvm.conf in it. */
static int open_dropin(int dir_fd, const char *dir, const char *unit, FILE **ret) {
        _cleanup_free_ char *dropin_dir = NULL;
        _cleanup_close_ int dropin_fd = -EBADF;

        if (asprintf(&dropin_dir, "%s.d", unit) < 0)
                return log_oom();
        if (mkdirat(dir_fd, dropin_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create '%s/%s': %m", dir, dropin_dir);
        dropin_fd = openat(dir_fd, dropin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dropin_fd < 0)
                return log_error_errno(errno, "Failed to open '%s/%s': %m", dir, dropin_dir);
        return open_unit_file(dropin_fd, dir, "50-cowvm.conf", ret);
}

static int write_vm_dropin(int dir_fd, const char *dir, const VmDefinition *d, const char *slice) {
        _cleanup_free_ char *unit = NULL;
        char buf[64];
        FILE *f;
        int r;

        if (asprintf(&unit, "vm@%s.service", d->name) < 0)
                return log_oom();
        r = open_dropin(dir_fd, dir, unit, &f);
        if (r < 0)
                return r;

        write_header(f, d);
        fputs("Requires=virtiofsd@", f);
        fputs(d->name, f);
        fputs(".socket\nAfter=virtiofsd@", f);
        fputs(d->name, f);
        fputs(".socket\n", f);
        /* virtiofsd gone means the guest lost its root: take the VM down.
         * After= makes a stop of the chain stop the VM before its virtiofsd,
         * so the guest keeps its root until it has powered off. */
        fputs("BindsTo=virtiofsd@", f);
        fputs(d->name, f);
        fputs(".service\nAfter=virtiofsd@", f);
        fputs(d->name, f);
        fputs(".service\nRequiresMountsFor=", f);
        fputs_unit_value(d->root_dir, f);
        fprintf(f, "\n\n[Service]\nSlice=%s\n", slice);
        if (d->timeout_start_usec != USEC_UNSET)
                fprintf(f, "TimeoutStartSec=%s\n", format_timespan_unit(buf, sizeof buf, d->timeout_start_usec));
        if (d->timeout_stop_usec != USEC_UNSET)
                fprintf(f, "TimeoutStopSec=%s\n", format_timespan_unit(buf, sizeof buf, d->timeout_stop_usec));

        return close_unit_file(f, dir, unit);
}

static int write_virtiofsd_dropin(int dir_fd, const char *dir, const VmDefinition *d, const char *slice) {
        _cleanup_free_ char *unit = NULL;
        FILE *f;
        int r;

        if (asprintf(&unit, "virtiofsd@%s.service", d->name) < 0)
                return log_oom();
        r = open_dropin(dir_fd, dir, unit, &f);
        if (r < 0)
                return r;

        write_header(f, d);
        fprintf(f, "\n[Service]\nSlice=%s\n", slice);
        return close_unit_file(f, dir, unit);
}

/* The most an Ephemeral=yes VM's upper layer holds: its tmpfs, whose pages
 * are charged to the cgroup of whoever writes them, virtiofsd in the VM's
 * slice. overlay-prepare sizes that tmpfs by the same rule. */
static uint64_t ephemeral_tmpfs_size(const VmDefinition *d) {
        uint64_t size, inodes;

        if (!d->ephemeral)
                return 0;
        ephemeral_tmpfs_limits(d->disk_size, d->memory, &size, &inodes);
        return size;
}

static uint64_t add_saturated(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* One slice per VM, for everything that runs for it (hypervisor, ch-launch,
 * virtiofsd): what one VM can take from the host is bounded as a whole,
 * whichever of its processes a guest manages to make grow. */
static int write_slice_unit(int dir_fd, const char *dir, const VmDefinition *d, const char *slice) {
        uint64_t memory_max;
        FILE *f;
        int r;

        /* The guest's RAM is allocated by the hypervisor in this slice;
         * MemoryOverhead= is for everything else: the hypervisor's own heap
         * (and under TCG its translated code), virtiofsd's state for every
         * inode the guest holds, ch-launch's journal queue (8 MiB). */
        memory_max = add_saturated(add_saturated(d->memory, d->memory_overhead), ephemeral_tmpfs_size(d));

        r = open_unit_file(dir_fd, dir, slice, &f);
        if (r < 0)
                return r;

        write_header(f, d);
        fprintf(f,
                "Description=Resources of VM %s\n"
                "Documentation=man:cowvm.vm(5)\n"
                "\n[Slice]\n",
                d->name);
        if (memory_max == UINT64_MAX)
                fputs("MemoryMax=infinity\n", f);
        else
                fprintf(f, "MemoryMax=%" PRIu64 "\n", memory_max);
        fprintf(f, "TasksMax=%u\nCPUWeight=%u\n", d->tasks_max, d->cpu_weight);
        if (d->cpu_quota_percent > 0)
                fprintf(f, "CPUQuota=%u%%\n", d->cpu_quota_percent);

        return close_unit_file(f, dir, slice);
}

/* DIR/TARGET.wants/UNIT -> ../UNIT, as systemd's own generators link. Only
 * the link's name matters to systemd. */
static int add_wants(int dir_fd, const char *dir, const char *target, const char *unit) {
        _cleanup_free_ char *wants = NULL, *link = NULL, *dest = NULL;

        if (asprintf(&wants, "%s.wants", target) < 0 || asprintf(&link, "%s/%s", wants, unit) < 0 ||
            asprintf(&dest, "../%s", unit) < 0)
                return log_oom();
        if (mkdirat(dir_fd, wants, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create '%s/%s': %m", dir, wants);
        if (symlinkat(dest, dir_fd, link) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create symlink '%s/%s': %m", dir, link);
        return 0;
}

static int generate_vm(int dir_fd, const char *dir, const VmDefinition *d) {
        _cleanup_free_ char *unit = NULL, *slice = NULL;
        int r;

        /* Slices cannot be templates: one per VM, machine-cowvm-NAME.slice,
         * below machine.slice where systemd puts VMs and containers. */
        r = unit_name_from_string("machine-cowvm-", d->name, ".slice", &slice);
        if (r < 0)
                return log_oom();

        r = write_mount_unit(dir_fd, dir, d);
        if (r < 0)
                return r;
        r = write_slice_unit(dir_fd, dir, d, slice);
        if (r < 0)
                return r;
        r = write_vm_dropin(dir_fd, dir, d, slice);
        if (r < 0)
                return r;
        r = write_virtiofsd_dropin(dir_fd, dir, d, slice);
        if (r < 0)
                return r;
        r = generate_network_units(dir_fd, dir, d);
        if (r < 0)
                return r;
        if (d->autostart) {
                if (asprintf(&unit, "vm@%s.service", d->name) < 0)
                        return log_oom();
                r = add_wants(dir_fd, dir, "machines.target", unit);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_vm_definition_free_ VmDefinition *defaults = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        const char *dir;
        bool any_autostart = false;
        unsigned failed = 0;
        int r;

        /* One argument (tests) or three (normal, early, late); all output
         * goes to the normal directory. */
        if (argc != 2 && argc != 4)
                return log_error_errno(EINVAL, "Expected one or three output directories, got %d.", argc - 1);
        dir = argv[1];
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Failed to open output directory '%s': %m", dir);

        r = vm_defaults_load(&defaults);
        if (r < 0)
                return r;
        r = collect_definitions(&l);
        if (r < 0)
                return r;

        for (size_t i = 0; i < l.n; i++) {
                _cleanup_vm_definition_free_ VmDefinition *d = NULL;

                if (!l.entries[i].path)
                        continue; /* masked */

                /* What is wrong with one file is one record of the kernel log. */
                log_group_begin();
                r = vm_definition_parse(l.entries[i].name, l.entries[i].path, defaults, &d);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        _cleanup_free_ char *summary = NULL;

                        if (asprintf(&summary, "Skipping VM '%s': its definition '%s' was rejected.",
                                     l.entries[i].name, l.entries[i].path) < 0)
                                return log_oom();
                        log_group_end(LOG_ERR, summary);
                        failed++;
                        continue;
                }
                log_group_end(LOG_WARNING, NULL);

                r = generate_vm(dir_fd, dir, d);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        failed++;
                        continue;
                }
                any_autostart = any_autostart || d->autostart;
        }

        /* Autostart=yes means "at boot": machines.target is only pulled in
         * when some VM wants it. */
        if (any_autostart) {
                r = add_wants(dir_fd, dir, "multi-user.target", "machines.target");
                if (r < 0)
                        return r;
        }

        log_debug("Generated units for %zu of %zu VM definitions.", l.n - failed, l.n);
        /* One bad definition must not fail the boot: only a failure to write
         * at all is an error of the generator. */
        return 0;
}

DEFINE_MAIN_FUNCTION("cowvm-generator", LOG_TARGET_KMSG, run);
