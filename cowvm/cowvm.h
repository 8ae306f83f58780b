/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vm-definition.h"

/* Exit status of a command used wrongly. */
#define EXIT_USAGE 2

#include "log.h"

/* Logs the usage line; returns the exit status for it (run() passes a
 * positive value on as the exit status). */
static inline int usage_error(const char *usage) {
        log_error("Usage: %s", usage);
        return EXIT_USAGE;
}

typedef struct VmState VmState;

/* ---- util.c --------------------------------------------------------------- */

/* systemctl's view of UNIT ("active", "inactive", ...), "" without systemd. */
int unit_active_state(const char *unit, char **ret);
/* Whether anything of the VM's chain runs or its root is mounted. */
int vm_is_running(const VmDefinition *d);
/* Runs ARGV, waits for it; its exit status, or < 0. */
int run_command(char *const *argv);
/* The bytes a tree takes on disk, not crossing mounts. */
uint64_t tree_disk_usage(const char *path);
/* rm -rf of a directory cowvm made, on one file system. */
int remove_tree(const char *path);
/* The same in a child of its own, not waited for. */
int remove_tree_detached(const char *path);

/* ---- layers.c --------------------------------------------------------------- */

int verb_snapshot(int argc, char *argv[]);
int verb_snapshots(int argc, char *argv[]);
int verb_reset(int argc, char *argv[]);
int verb_commit(int argc, char *argv[]);

/* ---- console.c -------------------------------------------------------------- */

int verb_console(int argc, char *argv[]);
