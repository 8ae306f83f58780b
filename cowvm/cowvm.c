/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * cowvm: the VMs of this host, in the manner of machinectl: list them, reach
 * their console, keep and go back to snapshots of their disks, publish one
 * as a base (cowvm(1)). Starting and stopping stay systemd's: `cowvm start`
 * and `stop` are systemctl.
 */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cowvm.h"
#include "disk-limit.h"
#include "layer-chain.h"
#include "log.h"
#include "main-func.h"
#include "parse-util.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"

static void help(void) {
        printf("cowvm [OPTIONS...] COMMAND ...\n\n"
               "The VMs of this host (definitions in /etc/cowvm, see cowvm.vm(5)).\n\n"
               "Commands:\n"
               "  list                      VMs: state, base or chain, address, disk use and limit\n"
               "  console NAME              attach to the VM's console (leave with Ctrl-])\n"
               "  snapshot NAME [LABEL]     make the stopped VM's disk a read-only layer, continue\n"
               "                            on an empty one\n"
               "  snapshots NAME            the VM's snapshots, with time and size\n"
               "  reset NAME [LABEL]        back to a snapshot, or to the pristine base: what came\n"
               "                            after it is discarded\n"
               "  commit NAME NEWBASE       publish the stopped VM's layers as base NEWBASE; the VM\n"
               "                            continues over it\n"
               "  start NAME, stop NAME     systemctl start/stop vm@NAME\n\n"
               "Options:\n"
               "  -h --help                 show this help\n"
               "     --version              show the version\n\n"
               "See cowvm(1).\n");
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names of all definitions, first found wins (as vm_definition_find). */
static int definition_names(char ***ret) {
        _cleanup_strv_free_ char **names = NULL;

        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                _cleanup_(closedirp) DIR *d = opendir(*dir);
                struct dirent *de;

                while (d && (de = readdir(d))) {
                        size_t n = strlen(de->d_name);
                        _cleanup_free_ char *name = NULL;
                        bool seen = false;

                        if (n < 4 || !streq(de->d_name + n - 3, ".vm") || !(name = strndup(de->d_name, n - 3)))
                                continue;
                        STRV_FOREACH (s, names)
                                seen = seen || streq(*s, name);
                        if (!seen && vm_name_is_valid(name) && strv_extend(&names, name) < 0)
                                return -ENOMEM;
                }
        }
        qsort(names, strv_length(names), sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        return 0;
}

static void vm_address(const VmDefinition *d, char *buf, size_t size) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n;

        snprintf(buf, size, "%s", d->addresses && d->addresses[0] ? d->addresses[0] : "-");
        if (safe_fs_open_root(d->layout.runtime_dir, &fd) < 0 ||
            safe_read_file_at(fd, "address", 256, &data, &n, NULL) < 0)
                return;
        data[strcspn(data, " \t\n")] = '\0';
        if (!isempty(data) && !string_has_cc(data))
                snprintf(buf, size, "%s", data);
}

static void vm_chain(const VmDefinition *d, char *buf, size_t size) {
        _cleanup_(snapshot_list_done) SnapshotList s = {};
        _cleanup_strv_free_ char **names = NULL;
        int n = 0;

        if (!d->ephemeral && snapshot_list_read(d->layout.state_dir, &s) >= 0 && s.n > 0)
                n = snprintf(buf, size, "%zu snap<", s.n);
        if (d->base[0] == '/' || base_chain_names(d->base, &names) < 0) {
                snprintf(buf + n, size - (size_t) n, "%s", d->base);
                return;
        }
        STRV_FOREACH (p, names)
                if ((size_t) n < size)
                        n += snprintf(buf + n, size - (size_t) n, "%s%s", p == names ? "" : "<", *p);
}

static void list_one(const char *name) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        _cleanup_free_ char *unit = NULL, *state = NULL, *upper = NULL;
        char chain[256], addr[64], used[32], limit[32];

        if (vm_definition_load(name, &d) < 0) {
                printf("%-16s %-12s %s\n", name, "invalid", "(see the message above)");
                return;
        }
        if (asprintf(&unit, "vm@%s.service", name) < 0 || unit_active_state(unit, &state) < 0)
                state = NULL;
        vm_chain(d, chain, sizeof chain);
        vm_address(d, addr, sizeof addr);
        upper = d->ephemeral ? NULL : path_join(d->layout.state_dir, "upper");
        if (upper && access(upper, F_OK) >= 0)
                format_size(used, sizeof used, tree_disk_usage(upper));
        else
                snprintf(used, sizeof used, "-");
        if (d->disk_size > 0)
                format_size(limit, sizeof limit, d->disk_size);
        else
                snprintf(limit, sizeof limit, "-");
        printf("%-16s %-12s %-30s %-18s %8s %8s\n", name, isempty(state) ? "-" : state, chain, addr, used, limit);
}

static int verb_list(int argc, char *argv[]) {
        _cleanup_strv_free_ char **names = NULL;

        if (argc != 1)
                return usage_error("cowvm list");
        if (definition_names(&names) < 0)
                return log_oom();
        printf("%-16s %-12s %-30s %-18s %8s %8s\n", "NAME", "STATE", "BASE", "ADDRESS", "DISK", "LIMIT");
        STRV_FOREACH (n, names)
                list_one(*n);
        return 0;
}

static int verb_systemctl(int argc, char *argv[]) {
        _cleanup_free_ char *unit = NULL;
        char *cmd[] = { (char *) "systemctl", argv[0], NULL, NULL };
        int r;

        if (argc != 2 || !vm_name_is_valid(argv[1]))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Usage: cowvm %s NAME", argv[0]);
        if (asprintf(&unit, "vm@%s.service", argv[1]) < 0)
                return log_oom();
        cmd[2] = unit;
        r = run_command(cmd);
        if (r < 0)
                return log_error_errno(r, "Failed to run systemctl: %m");
        return r == 0 ? 0 : -EIO;
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        static const struct {
                const char *verb;
                int (*run)(int argc, char *argv[]);
        } verbs[] = {
                { "list", verb_list },           { "console", verb_console }, { "snapshot", verb_snapshot },
                { "snapshots", verb_snapshots }, { "reset", verb_reset },     { "commit", verb_commit },
                { "start", verb_systemctl },     { "stop", verb_systemctl },
        };
        int c;

        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("cowvm %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                help();
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].verb)) {
                        return verbs[i].run(argc - optind, argv + optind);
                }
        log_error("Unknown command '%s'; see 'cowvm --help'.", argv[optind]);
        return EXIT_USAGE;
}

DEFINE_MAIN_FUNCTION_WITH_POSITIVE_FAILURE("cowvm", LOG_TARGET_CONSOLE, run);
