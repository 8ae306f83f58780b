/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Fixtures of the config-inject and guest-tree tests: building trees,
 * snapshots of whole trees to prove that nothing changed, and running the
 * writers with stderr captured. The assertions are the common ones of tests.h. */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "inject.h"
#include "tests.h"
#include "vm-definition.h"

/* A fresh directory under $TMPDIR; removed by tmpdir_remove(). */
char *tmpdir_new(void);
void tmpdir_remove(const char *dir);

/* Creates dir/rel with its parents; content NULL makes a directory. Aborts
 * the test on failure (a broken fixture is not a result). */
void tree_write(const char *dir, const char *rel, const char *content);
void tree_symlink(const char *dir, const char *rel, const char *target);
/* The contents of dir/rel, NULL if unreadable. */
char *tree_read(const char *dir, const char *rel);
bool tree_exists(const char *dir, const char *rel);
bool tree_is_symlink_to(const char *dir, const char *rel, const char *target);

/* A textual listing of everything below `dir` (type, mode, owner, size,
 * inode, content hash, link target), or of one file; equal listings mean
 * nothing changed. */
char *snapshot(const char *dir);

/* Parses `text` as NAME.vm (written into `dir`) with the real parser. */
VmDefinition *definition_new(const char *dir, const char *name, const char *text);

/* An InjectContext for root `root` (and base `base`, may be NULL) owned by
 * the caller's uid/gid. Release with context_done(). */
void context_init(InjectContext *c, const char *root, const char *base, const VmDefinition *d);
void context_done(InjectContext *c);

/* Runs fn(userdata) with stderr (its own and its children's) captured into
 * *ret_log (also echoed); returns what fn returned. */
int run_captured(int (*fn)(void *userdata), void *userdata, char **ret_log);
/* Runs inject_all() so. */
int inject_all_captured(const InjectContext *c, char **ret_log);

/* Runs argv[0] (a path) with argv and waits: its exit status, or 128 + the
 * signal that ended it. */
int run_program(char *const argv[]);

/* A minimal Debian-like base: passwd, shadow, group, hosts, fstab with
 * cloud-image entries, systemd, sshd with host keys. */
void base_debian_like(const char *dir);
