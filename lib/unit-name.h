/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Unit names and unit file values, escaped the way systemd reads them. */

#include <stdio.h>

/* systemd-escape --path: "/run/cowvm/web-1/root" + ".mount" ->
 * "run-cowvm-web\x2d1-root.mount". `path` must be normalized. */
int unit_name_from_path(const char *path, const char *suffix, char **ret);

/* prefix + `s` escaped as systemd-escape escapes a string (every byte outside
 * [A-Za-z0-9:_.], and a leading '.', becomes \xNN) + suffix:
 * ("machine-cowvm-", "web-1", ".slice") -> "machine-cowvm-web\x2d1.slice". In a slice name '-' means
 * "child of", so a VM named web-1 must not become a child slice "1" of
 * "web". The prefix is taken as is. */
int unit_name_from_string(const char *prefix, const char *s, const char *suffix, char **ret);

/* Writes `s` for a unit file value that undergoes specifier expansion only
 * (Description=, Where=, Options=, SourcePath=): '%' becomes "%%". */
void fputs_unit_value(const char *s, FILE *f);
