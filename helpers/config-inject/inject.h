/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The writers of config-inject: each one rewrites the few files (or lines)
 * cowvm manages inside a VM's root from the VM's definition and leaves
 * everything else alone. They take the root as a directory fd, so the tests
 * run them on plain directories; config-inject.c runs them on the mounted
 * overlay after checking that it is one.
 *
 * The root is written by the guest: every access goes through guest-tree.h
 * (safe-fs.h underneath), and every message names the file as the guest sees
 * it ("/etc/shadow") and the VM root it lies in. Each writer logs its own
 * failure and returns < 0. The text edits are guest-text.h's.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "guest-text.h"
#include "guest-tree.h"
#include "vm-definition.h"

#define INJECT_ROOT_LABEL "the VM root"

typedef struct InjectContext {
        GuestTree root; /* the VM's root, labelled INJECT_ROOT_LABEL */
        int base_fd;    /* the base tree (to recognize its SSH host keys), or -EBADF */
        const VmDefinition *def;
        /* Owner of the files cowvm creates for root in the guest: 0 in real
         * use; the tests, run unprivileged, pass their own ids. */
        uid_t owner_uid;
        gid_t owner_gid;
} InjectContext;

#define INJECT_READ_MAX GUEST_TEXT_MAX
#define INJECT_KEYS_READ_MAX (1024U * 1024U)

int inject_fstab(const InjectContext *c);
int inject_hostname(const InjectContext *c);
int inject_hosts(const InjectContext *c);
int inject_machine_id(const InjectContext *c);
int inject_network(const InjectContext *c);
int inject_password(const InjectContext *c);
int inject_authorized_keys(const InjectContext *c);
int inject_ssh_host_keys(const InjectContext *c);
int inject_ready_unit(const InjectContext *c);
int inject_cloud_init(const InjectContext *c);

/* Runs every writer, even after one failed (so one run reports every
 * problem); returns the first error. */
int inject_all(const InjectContext *c);

/* The whole of config-inject: checks that the VM's root is its overlay,
 * runs every writer on it and syncs what they wrote. Logs every problem;
 * run by ch-launch before it starts the hypervisor, and by config-inject(8). */
int inject_vm(const VmDefinition *d);

/* Checks that `root_fd` (an fd of d->layout.root_dir) is the root of an overlay
 * mounted at d->layout.root_dir whose upperdir is d->layout.upper_dir. Logs and returns
 * -EMEDIUMTYPE if not. */
int inject_verify_overlay(int root_fd, const VmDefinition *d);
