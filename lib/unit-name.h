/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Unit names, escaped the way systemd reads them. */

/* systemd-escape --path: "/run/cowvm/web-1/root" + ".mount" ->
 * "run-cowvm-web\x2d1-root.mount". `path` must be normalized. */
int unit_name_from_path(const char *path, const char *suffix, char **ret);
