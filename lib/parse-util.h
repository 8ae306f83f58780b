/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Value parsers and validators for definition keys. Each returns 0 or a
 * negative errno and touches *ret only on success; none of them logs. */

#include <net/ethernet.h>
#include <stdbool.h>
#include <stdint.h>

/* systemd's boolean spellings: 1/yes/y/true/t/on and 0/no/n/false/f/off. */
int parse_boolean(const char *s);
int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret);
/* "512M", "2G", "1048576": base 1024, suffixes K, M, G, T; a bare number is bytes. */
int parse_size(const char *s, uint64_t *ret);
int parse_ether_addr(const char *s, struct ether_addr *ret);
/* An IPv4 or IPv6 address; with `prefix`, in CIDR notation ADDR/LEN. */
bool ip_address_is_valid(const char *s, bool prefix);

bool hostname_is_valid(const char *s);
/* A user name useradd(8) would accept: [a-z_][a-z0-9_-]*, at most 32 characters. */
bool user_name_is_valid(const char *s);
/* An interface name the kernel accepts: 1..15 bytes, no '/', ':' or whitespace. */
bool ifname_is_valid(const char *s);
/* A crypt(3) hash ("$id$...") or a locked marker ("!", "*", "!$..."). */
bool password_hash_is_valid(const char *s);
/* An OpenSSH authorized_keys line: [options] keytype base64 [comment]. */
bool ssh_authorized_key_is_valid(const char *s);
/* True if `s` contains a byte < 0x20 or 0x7f. */
bool string_has_cc(const char *s);
