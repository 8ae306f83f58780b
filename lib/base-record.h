/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The base record, STATE/vms/NAME/base: which base a VM's upper layer was
 * made over, written by overlay-prepare at the VM's first start and checked
 * at every start after it (an overlay over a changed lower layer is
 * undefined). The format, kept as it has always been so that a VM's record
 * still matches after an upgrade:
 *
 *   # comment lines
 *   path=/var/lib/cowvm/bases/NAME    the base's path, as the definition gave it
 *   id=TOKEN                          its /etc/cowvm-base-id, or inode:... (overlay-prepare)
 *
 * Unknown lines are ignored. This is its only reader: cowvm-mkbase asks
 * `overlay-prepare base-users DIR` which VMs use a base.
 */

#include "macro.h"

typedef struct BaseRecord {
        char *path;
        char *id;
} BaseRecord;

void base_record_done(BaseRecord *b);

/* -ENOENT when there is none, -EBADMSG when path= or id= is missing. */
int base_record_read(const char *file, BaseRecord *ret);

/* Writes the record atomically into the state directory `state_fd`: 1, or 0
 * when it was there as it is. */
int base_record_write(int state_fd, const char *base_dir, const char *id);

/* The names of the VMs (sorted) whose record names `base_dir`, or a path
 * that resolves to where `base_dir` does. NULL when there are none. */
int base_record_users(const char *base_dir, char ***ret);
