/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <net/if.h>
#include <stdio.h>

#include "sha256.h"
#include "tests.h"
#include "vm-identity.h"

static void hex(const uint8_t *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

int main(void) {
        uint8_t h[SHA256_DIGEST_SIZE];
        char s[2 * SHA256_DIGEST_SIZE + 1], id[33], uuid[37], tap1[IFNAMSIZ], tap2[IFNAMSIZ];
        struct ether_addr m1, m2;

        /* FIPS 180-4 test vectors, including the two-block padding case. */
        sha256("", 0, h);
        hex(h, sizeof h, s);
        CHECK_STREQ(s, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        sha256("abc", 3, h);
        hex(h, sizeof h, s);
        CHECK_STREQ(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
        hex(h, sizeof h, s);
        CHECK_STREQ(s, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

        vm_machine_id("web", id);
        CHECK(strlen(id) == 32 && id[12] == '4');
        vm_uuid("web", uuid);
        CHECK(strlen(uuid) == 36 && uuid[8] == '-' && strncmp(uuid, id, 8) == 0);

        vm_stable_mac("web", &m1);
        vm_stable_mac("web", &m2);
        CHECK(memcmp(&m1, &m2, sizeof m1) == 0);
        CHECK((m1.ether_addr_octet[0] & 0x03) == 0x02); /* local, unicast */
        vm_stable_mac("web2", &m2);
        CHECK(memcmp(&m1, &m2, sizeof m1) != 0);

        vm_tap_name("web", tap1);
        CHECK_STREQ(tap1, "vm-web");
        vm_tap_name("a-very-long-vm-name-number-one", tap1);
        vm_tap_name("a-very-long-vm-name-number-two", tap2);
        CHECK(strlen(tap1) == 15 && strlen(tap2) == 15 && strcmp(tap1, tap2) != 0);
        CHECK(strncmp(tap1, "vh-a-ve", 7) == 0);
        TESTS_EXIT();
}
