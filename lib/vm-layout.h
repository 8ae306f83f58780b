/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Where a VM lives on the host. Every program that needs one of these paths
 * takes it from here (the units use %i for the few they name), so that the
 * layout is written down once:
 *
 *   STATE/bases/BASE                   base trees (STATE: /var/lib/cowvm)
 *   STATE/vms/NAME/                    the VM's state directory: its disk
 *   STATE/vms/NAME/{upper,work}        the persistent upper layer
 *   STATE/vms/NAME/base                the record of the base it was made over
 *   RUNTIME/NAME/                      (RUNTIME: /run/cowvm)
 *   RUNTIME/NAME/root                  the overlay mount point
 *   RUNTIME/NAME/virtiofsd.sock        vhost-user socket of virtiofsd@NAME
 *   RUNTIME/NAME/vmm/                  ch-launch's sockets
 *   RUNTIME/NAME/ephemeral/{upper,work}  the tmpfs upper of Ephemeral=yes
 *   RUNTIME/.uid/UID                   locks of the hypervisors' uids
 *
 * A VM's paths are a function of its name and Ephemeral= alone: stopping a
 * VM whose definition is gone or broken finds the same paths it started
 * with.
 */

#include <stdbool.h>

#include "macro.h"

/* The file name of the base record in the state directory: base-record.h. */
#define VM_LAYOUT_BASE_RECORD "base"

typedef struct VmLayout {
        char *state_dir;        /* STATE/vms/NAME */
        char *base_record;      /* STATE/vms/NAME/base */
        char *runtime_dir;      /* RUNTIME/NAME */
        char *root_dir;         /* RUNTIME/NAME/root, the overlay mount point */
        char *virtiofsd_socket; /* RUNTIME/NAME/virtiofsd.sock */
        char *vmm_dir;          /* RUNTIME/NAME/vmm: ch-launch's sockets (vm@'s RuntimeDirectory=) */
        char *ephemeral_dir;    /* RUNTIME/NAME/ephemeral: the tmpfs of an Ephemeral=yes VM */
        char *upper_dir;        /* the upper layer: the VM's disk, or in the tmpfs when ephemeral */
        char *work_dir;
} VmLayout;

/* /var/lib/cowvm ($COWVM_STATE_DIR) and /run/cowvm ($COWVM_RUNTIME_DIR). */
const char *cowvm_state_dir(void);
const char *cowvm_runtime_dir(void);

/* Fills *ret for VM `name` (a valid VM name). -ENOMEM, or 0. */
int vm_layout_make(const char *name, bool ephemeral, VmLayout *ret);
void vm_layout_done(VmLayout *l);

/* STATE/bases/BASE for a base name, `base` itself for an absolute path. */
char *vm_layout_base_dir(const char *base);
/* STATE/bases, STATE/vms and RUNTIME/.uid. NULL on OOM. */
char *vm_layout_bases_dir(void);
char *vm_layout_vms_dir(void);
char *vm_layout_uid_dir(void);

/* Why the absolute path `base` must not be a VM's lower layer (the host's
 * root, its secrets, the kernel's live state, the VMs' own disks and
 * runtime state), as text for a message; NULL if it may be one. `base` is
 * normalized: the caller checks the configured path and, at start, the path
 * it resolves to. *ret_buf is freed by the caller. */
const char *base_path_refusal(const char *base, char **ret_buf);
