/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The writers of config-inject: each one rewrites the few files (or lines)
 * cowvm manages inside a VM's root from the VM's definition and leaves
 * everything else alone. They take the root as a directory fd, so the tests
 * run them on plain directories; config-inject.c runs them on the mounted
 * overlay after checking that it is one.
 *
 * The root is written by the guest: every access goes through safe-fs.h, and
 * every message names the file as the guest sees it ("/etc/shadow") and the
 * VM root it lies in. Each writer logs its own failure and returns < 0.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "vm-definition.h"

typedef struct InjectContext {
        int root_fd;           /* the VM's root, from safe_fs_open_root() */
        const char *root_path; /* where it is on the host, for messages */
        int base_fd;           /* the base tree (to recognize its SSH host keys), or -EBADF */
        const VmDefinition *def;
        /* Owner of the files cowvm creates for root in the guest: 0 in real
         * use; the tests, run unprivileged, pass their own ids. */
        uid_t owner_uid;
        gid_t owner_gid;
} InjectContext;

/* Largest file a writer reads back (/etc/shadow, /etc/passwd, ...): a guest
 * can plant a sparse 10 GiB file, and we must not try to hold it. */
#define INJECT_READ_MAX (16U * 1024U * 1024U)
#define INJECT_KEYS_READ_MAX (1024U * 1024U)

#define COWVM_KEYS_BEGIN "# BEGIN cowvm managed keys"
#define COWVM_KEYS_END "# END cowvm managed keys"
#define COWVM_FSTAB_DISABLED "#cowvm-disabled: "

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

/* Checks that `root_fd` (an fd of d->layout.root_dir) is the root of an overlay
 * mounted at d->layout.root_dir whose upperdir is d->layout.upper_dir. Logs and returns
 * -EMEDIUMTYPE if not. */
int inject_verify_overlay(int root_fd, const VmDefinition *d);

/* Exposed for the tests: the text transformations, on whole files. */
int fstab_rewrite(const char *in, char **ret);
int hosts_rewrite(const char *in, const char *hostname, char **ret);
/* -ESRCH: no line for `user`. */
int shadow_rewrite(const char *in, const char *user, const char *hash, char **ret);
/* `keys` may be NULL or empty: the managed block is removed. */
int authorized_keys_rewrite(const char *in, char *const *keys, char **ret);

typedef struct PasswdEntry {
        uid_t uid;
        gid_t gid;
        char *home;
} PasswdEntry;
void passwd_entry_done(PasswdEntry *e);
/* -ESRCH: no such user; -EUCLEAN: the user's line is malformed or its home
 * is not a normalized absolute path. */
int passwd_lookup(const char *passwd, const char *user, PasswdEntry *ret);
