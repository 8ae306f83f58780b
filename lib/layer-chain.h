/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The read-only layers below a VM's upper layer (docs/layers.md).
 *
 * A base under bases/ may stand on a parent base: bases/.NAME.parent holds
 * the parent's name (a file beside the tree, not in it: the tree is the
 * guest's root, and a tree imported from an image must not be able to name
 * a parent of its own). A VM's snapshots are layers of its own,
 * vms/NAME/layers/N, listed oldest first in vms/NAME/snapshots.
 *
 * The overlay's lowerdir is the VM's snapshot layers, newest first, then its
 * base, then the base's ancestors: the top-most layer that has a file wins.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "vm-definition.h"

#define LAYER_CHAIN_MAX_BASES 64
/* overlayfs takes at most 500 lower layers; the mount options must fit in
 * a page, which bounds a chain well before that. */
#define LAYER_CHAIN_MAX_OPTIONS 4000
#define SNAPSHOT_LABEL_MAX 32

typedef struct Snapshot {
        unsigned num; /* the layer is vms/NAME/layers/NUM */
        int64_t time; /* seconds since the epoch */
        char *label;
} Snapshot;

typedef struct SnapshotList {
        Snapshot *items; /* oldest first */
        size_t n;
} SnapshotList;

void snapshot_list_done(SnapshotList *l);
/* An absent list is an empty one. */
int snapshot_list_read(const char *state_dir, SnapshotList *ret);
int snapshot_list_write(const char *state_dir, const SnapshotList *l);
int snapshot_list_add(SnapshotList *l, unsigned num, int64_t time, const char *label);
/* Index of LABEL, or -ENOENT. */
int snapshot_list_find(const SnapshotList *l, const char *label);
char *snapshot_layer_dir(const char *state_dir, unsigned num);
bool snapshot_label_is_valid(const char *label);

/* bases/.NAME.parent */
char *base_parent_file(const char *name);
/* 1 and the parent's name, or 0 for a base that stands on nothing. */
int base_parent_read(const char *name, char **ret);
/* NAME and its ancestors, top-most first, as names. */
int base_chain_names(const char *name, char ***ret);

/* The lower layers of VM d, top-most first (host paths); *ret_n_vm of them
 * are the VM's own snapshot layers. An ephemeral VM has none. */
int layer_chain_dirs(const VmDefinition *d, char ***ret, size_t *ret_n_vm);
/* The escaped lowerdir= value. */
int layer_chain_lowerdir(const VmDefinition *d, char **ret);

/* Looks PATH up through the layers the way overlayfs does (the top-most
 * layer that has it wins, a whiteout or a non-directory above hides what is
 * below, an opaque directory hides the lower ones' contents, a symlink is
 * followed through the stack). Returns the host path of the file, or
 * -ENOENT. */
int layer_stack_find(char *const *dirs, const char *path, char **ret);

/* Kernel= and Initrd= through the base's layers, for a base that has more
 * than one; 0 without doing anything for a plain base. */
int layer_chain_resolve_boot_files(VmDefinition *d);

/* What identifies a base layer: the id cowvm-mkbase or cowvm commit wrote
 * into its /etc/cowvm-base-id, else its root's inode number and birth time. */
int layer_identity(int layer_fd, char **ret);
/* The identities of the base's layers, top-most first, joined by '/' (a
 * plain base: its own). base_fd is the opened base_dir. */
int layer_chain_identity(const VmDefinition *d, int base_fd, char **ret);

/* Whether a file is an overlayfs whiteout. */
bool stat_is_whiteout(const struct stat *st);
