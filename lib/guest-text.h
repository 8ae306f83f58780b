/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The text of the guest files cowvm edits, as pure functions on whole files:
 * no file access, no logging, so that config-inject and mkbase-fixup make the
 * very same edit (a VM's first start then finds its base's files already as
 * it would write them) and the tests can feed them anything. `in` is the
 * file's text (NUL-terminated, no NUL inside), or NULL where the file may be
 * missing; `*ret` is a new buffer. -ENOMEM unless said otherwise.
 */

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "vm-definition.h"

#define GUEST_ROOT_FSTAB_LINE VIRTIOFS_ROOT_TAG " / virtiofs defaults 0 0"
#define COWVM_FSTAB_DISABLED "#cowvm-disabled: "
#define COWVM_KEYS_BEGIN "# BEGIN cowvm managed keys"
#define COWVM_KEYS_END "# END cowvm managed keys"

/* The root becomes the virtio-fs share; block devices the VM does not have
 * are commented out. `in` may be NULL. */
int fstab_rewrite(const char *in, char **ret);
/* Our 127.0.1.1 line for `hostname`. `in` may be NULL (Debian's default). */
int hosts_rewrite(const char *in, const char *hostname, char **ret);
/* Field 2 of `user`'s line becomes `hash`. -ESRCH: no line for `user`;
 * -EUCLEAN: the line is malformed. */
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

/* Ends an open_memstream() `f` writing into `*buf`: moves the text to
 * `*ret`, or frees it and returns -ENOMEM if any write failed. */
int memstream_finish(FILE *f, char **buf, char **ret);
