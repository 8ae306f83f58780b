/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vm-definition.h"

/*
 * Mount options of a VM's overlay root, chosen by measurement
 * (bench/overlay-options.sh and docs/performance.md):
 *
 *   xino=auto      unique st_ino across layers where the layers are on
 *                  different filesystems; no measurable cost.
 *   volatile       (Ephemeral=yes only) no syncs to the upper layer: it is a
 *                  tmpfs that is thrown away at stop anyway.
 *   nosuid,nodev   the tree is the guest's: a setuid-root binary or a device
 *                  node it planted must mean nothing to the host, where
 *                  users and tools reach the tree through this mount. The
 *                  guest is unaffected: virtiofsd passes modes and device
 *                  numbers through as they are, and the guest's own kernel
 *                  honours them (it opens device nodes itself; virtio-fs
 *                  only serves their inodes).
 *
 * Not chosen: index=on and nfs_export=on made every copy-up two to three
 * times slower (config-inject's first run on a Debian base: ~65 ms without,
 * ~170 ms with both), and buy nothing cowvm needs. The guard they would give
 * against a replaced base (the kernel refusing an upper layer over another
 * lower tree) overlay-prepare already gives, with a message a user can act
 * on; and file handles (nfs_export) matter only to a virtiofsd that uses
 * them (the Rust one with --inode-file-handles), which cowvm does not ask for:
 * both virtiofsd implementations keep an O_PATH fd per inode by default and
 * raise their own RLIMIT_NOFILE.
 */
#define OVERLAY_MOUNT_FLAGS "xino=auto,nosuid,nodev"
#define OVERLAY_MOUNT_FLAGS_EPHEMERAL "xino=auto,volatile,nosuid,nodev"

/* Escapes a path for an overlayfs option value: '\', ',' and ':' are
 * preceded by '\' (':' separates lower layers, ',' separates options). */
char *overlay_escape_path(const char *path);

/* "lowerdir=...,upperdir=...,workdir=...," and the flags above; lowerdir is
 * the VM's layer chain (layer-chain.h). */
int overlay_mount_options(const VmDefinition *d, char **ret);
