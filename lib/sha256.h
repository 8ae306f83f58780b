/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* SHA-256 (FIPS 180-4), only to derive stable identifiers from a VM name;
 * nothing here is used for security. */

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

void sha256(const void *data, size_t len, uint8_t ret[static SHA256_DIGEST_SIZE]);
