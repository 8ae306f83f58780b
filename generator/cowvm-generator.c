/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * cowvm-generator: what only a generator can do for VM definitions,
 * following systemd.generator(7). At boot and at every daemon-reload it
 * reads every NAME.vm, and
 *
 *   reports each definition that is rejected (to the kernel log, which
 *   the journal shows at boot), so that a bad file is seen before anyone
 *   starts its VM;
 *   links machines.target.wants/vm@NAME.service for Autostart=yes, and
 *   multi-user.target.wants/machines.target when any VM has it.
 *
 * Everything else about a VM is decided when it starts (the unit templates,
 * overlay-prepare, cowvm-network): a new or edited definition needs no
 * daemon-reload. It writes nothing else anywhere, talks to nobody, and one
 * bad file costs only that VM: the problem is logged and the run goes on.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "main-func.h"
#include "vm-definition.h"

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
        _cleanup_free_ char *unit = NULL;

        if (!d->autostart)
                return 0;
        if (asprintf(&unit, "vm@%s.service", d->name) < 0)
                return log_oom();
        return add_wants(dir_fd, dir, "machines.target", unit);
}

/* One VM: 1 when its definition is valid (and it wants autostart, then
 * 2), 0 when it was rejected (logged), -ENOMEM. */
static int generate_entry(int dir_fd, const char *dir, const VmDefinitionEntry *e, const VmDefinition *defaults) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        int r;

        /* What is wrong with one file is one record of the kernel log. */
        log_group_begin();
        r = vm_definition_parse(e->name, e->path, defaults, &d);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                _cleanup_free_ char *summary = NULL;

                if (asprintf(&summary, "VM '%s' cannot start: its definition '%s' was rejected.", e->name, e->path) <
                    0)
                        return log_oom();
                log_group_end(LOG_ERR, summary);
                return 0;
        }
        log_group_end(LOG_WARNING, NULL);

        r = generate_vm(dir_fd, dir, d);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        return d->autostart ? 2 : 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(vm_definition_list_done) VmDefinitionList l = {};
        _cleanup_vm_definition_free_ VmDefinition *defaults = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        const char *dir;
        bool any_autostart = false;
        size_t generated = 0;
        int r;

        /* One argument (tests) or three (normal, early, late); all output
         * goes to the normal directory. */
        if (argc != 2 && argc != 4)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Expected one or three output directories, got %d.",
                                       argc - 1);
        dir = argv[1];
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Failed to open output directory '%s': %m", dir);

        r = vm_defaults_load(&defaults);
        if (r < 0)
                return r;
        r = vm_definitions_enumerate(&l);
        if (r < 0)
                return r;

        for (size_t i = 0; i < l.n; i++) {
                r = generate_entry(dir_fd, dir, l.entries + i, defaults);
                if (r < 0)
                        return r;
                generated += r > 0;
                any_autostart = any_autostart || r == 2;
        }

        /* Autostart=yes means "at boot": machines.target is only pulled in
         * when some VM wants it. */
        if (any_autostart) {
                r = add_wants(dir_fd, dir, "multi-user.target", "machines.target");
                if (r < 0)
                        return r;
        }

        log_debug("%zu of %zu VM definitions are valid.", generated, l.n);
        /* One bad definition must not fail the boot: only a failure to write
         * at all is an error of the generator. */
        return 0;
}

DEFINE_MAIN_FUNCTION("cowvm-generator", LOG_TARGET_KMSG, run);
