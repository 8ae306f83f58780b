/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The INI layer of vm-definition.c: the key table and its parsers. */

#include <stdbool.h>
#include <stdio.h>

#include "vm-definition.h"

/* Parses the open file `f` (named `path` in messages) into `d`, over what
 * `d` already holds; `defaults`: it is cowvm.conf, where the keys that
 * identify one VM are ignored. Every problem is logged as PATH:LINE.
 * -EINVAL when anything was rejected (the rest is parsed all the same, and
 * no rejected value is stored), -ENOMEM, -EIO, or 0. */
int definition_parse_file(VmDefinition *d, const char *path, FILE *f, bool defaults);
