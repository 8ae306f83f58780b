/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vm-definition.h"

/*
 * Mount options of a VM's overlay root. Chosen (docs/performance.md has the
 * measurements):
 *   index=on       overlayfs records the lower root's file handle in the upper
 *                  layer and refuses (ESTALE) to mount it over a different
 *                  lower tree: a second guard, in the kernel, against a base
 *                  replaced under an existing VM. It also keeps hard links
 *                  intact across copy-up.
 *   nfs_export=on  (needs index=on) makes the merged tree exportable through
 *                  file handles, so a virtiofsd that uses them (the Rust one
 *                  with --inode-file-handles) need not hold one fd per inode.
 *   xino=auto      unique st_ino across layers where the kernel can.
 */
#define OVERLAY_MOUNT_FLAGS "index=on,nfs_export=on,xino=auto"

/* Escapes a path for an overlayfs option value: '\', ',' and ':' are
 * preceded by '\' (':' separates lower layers, ',' separates options). */
char *overlay_escape_path(const char *path);

/* "lowerdir=...,upperdir=...,workdir=...," OVERLAY_MOUNT_FLAGS */
int overlay_mount_options(const VmDefinition *d, char **ret);
