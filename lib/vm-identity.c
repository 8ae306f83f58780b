/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>

#include "sha256.h"
#include "vm-identity.h"

static void hash_name(const char *purpose, const char *name, uint8_t ret[static SHA256_DIGEST_SIZE]) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "cowvm:%s:%s", purpose, name);

        sha256(buf, (size_t) n < sizeof buf ? (size_t) n : sizeof buf - 1, ret);
}

static void id128(const char *name, uint8_t id[static 16]) {
        uint8_t h[SHA256_DIGEST_SIZE];

        hash_name("machine-id", name, h);
        memcpy(id, h, 16);
        /* RFC 4122 version 4 and variant bits, as systemd's sd_id128_make_v4_uuid(). */
        id[6] = (id[6] & 0x0F) | 0x40;
        id[8] = (id[8] & 0x3F) | 0x80;
}

void vm_machine_id(const char *name, char ret[static 33]) {
        uint8_t id[16];

        id128(name, id);
        for (int i = 0; i < 16; i++)
                (void) sprintf(ret + 2 * i, "%02x", id[i]);
}

void vm_uuid(const char *name, char ret[static 37]) {
        uint8_t id[16];
        char *p = ret;

        id128(name, id);
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                p += sprintf(p, "%02x", id[i]);
        }
}

void vm_stable_mac(const char *name, struct ether_addr *ret) {
        uint8_t h[SHA256_DIGEST_SIZE];

        hash_name("mac", name, h);
        memcpy(ret->ether_addr_octet, h, 6);
        ret->ether_addr_octet[0] = (uint8_t) ((h[0] & 0xFE) | 0x02);
}

void vm_tap_name(const char *name, char ret[static IFNAMSIZ]) {
        uint8_t h[SHA256_DIGEST_SIZE];

        if (strlen("vm-") + strlen(name) < IFNAMSIZ) {
                (void) snprintf(ret, IFNAMSIZ, "vm-%s", name);
                return;
        }
        hash_name("tap", name, h);
        (void) snprintf(ret, IFNAMSIZ, "vh-%.4s%02x%02x%02x%02x", name, h[0], h[1], h[2], h[3]);
}
