/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the writers of config-inject (inject-*.c) share. */

#include <stdbool.h>
#include <sys/types.h>

#include "guest-files.h"
#include "inject.h"

/* Why a file of ours goes, in the log. */
#define INJECT_REMOVED_WHY "the definition no longer asks for it."

/* Reads a text file of the guest: `missing_ok` lets a missing one read as
 * NULL (and 0). */
int inject_read_text(const InjectContext *c, const char *path, size_t max, bool missing_ok, char **ret,
                     struct stat *ret_st);

/* Writes back a guest file that the next start reads again with limit
 * `max`; `needed`: whether the definition needs it changed (else a file that
 * grew too long is left as it is). */
int inject_write_rewritten(const InjectContext *c, const char *path, const char *content, size_t max, bool needed,
                           mode_t mode, uid_t uid, gid_t gid, SafeWriteFlags flags);

/* A file only cowvm writes: owned by c->owner_*, mode kept if the guest
 * changed it. */
int inject_write_managed(const InjectContext *c, const char *path, const char *content, mode_t mode);

/* Removes a file of ours the definition no longer asks for. */
int inject_remove(const InjectContext *c, const char *path);

bool inject_guest_has_systemd(const InjectContext *c);

/* The first lines of each unit and network file written from the
 * definition: who wrote it from what, and that edits are lost. */
int inject_managed_header(const InjectContext *c, char **ret);
