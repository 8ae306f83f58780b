/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <sys/socket.h>

#include "tests.h"
#include "vm-network.h"

static void check_listen(const char *value, const char *listen, unsigned guest_port) {
        char buf[INET6_ADDRSTRLEN + 8];
        Forward f;

        CHECK(forward_parse(value, &f) == 0);
        forward_listen_format(&f, buf);
        CHECK_STREQ(buf, listen);
        CHECK(f.guest_port == guest_port);
}

static void test_forward_parse(void) {
        static const char *const bad[] = {
                "",
                "80",
                "0:80",
                "8080:0",
                "8080:65536",
                "x:80",
                ":8080:80",
                "8080:80:",
                "localhost:8080:80",
                "::1:8080:80",
                "[::1]8080:80",
                "[::1:8:80",
                "1.2.3.4.5:8:80",
                "[1.2.3.4]:8:80",
                "-1:80",
                "8080:+80",
        };
        Forward f;

        check_listen("8080:80", "8080", 80);
        check_listen("127.0.0.1:2222:22", "127.0.0.1:2222", 22);
        check_listen("[::1]:8443:443", "[::1]:8443", 443);
        check_listen("[0:0::1]:1:65535", "[::1]:1", 65535);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (forward_parse(bad[i], &f) != -EINVAL) {
                        fprintf(stderr, "accepted Forward=%s\n", bad[i]);
                        CHECK(false);
                }
}

static void test_forward_overlaps(void) {
        Forward any, lo, lo2, other, v6;

        CHECK(forward_parse("8080:80", &any) == 0);
        CHECK(forward_parse("127.0.0.1:8080:22", &lo) == 0);
        CHECK(forward_parse("127.0.0.1:8080:80", &lo2) == 0);
        CHECK(forward_parse("127.0.0.2:8080:80", &other) == 0);
        CHECK(forward_parse("[::1]:8080:80", &v6) == 0);
        CHECK(forward_overlaps(&any, &lo));
        CHECK(forward_overlaps(&v6, &any));
        CHECK(forward_overlaps(&lo, &lo2));
        CHECK(!forward_overlaps(&lo, &other));
        CHECK(!forward_overlaps(&lo, &v6));
        CHECK(forward_parse("8081:80", &other) == 0);
        CHECK(!forward_overlaps(&any, &other));
}

static void test_lease_pick(void) {
        struct in_addr bridge, a, b, used[200];
        char buf[INET_ADDRSTRLEN];

        (void) inet_pton(AF_INET, "10.87.0.1", &bridge);
        CHECK(lease_pick("web", bridge, 24, NULL, 0, &a) == 0);
        (void) inet_ntop(AF_INET, &a, buf, sizeof buf);
        /* The upper half of 10.87.0.0/24 without the broadcast address. */
        CHECK((ntohl(a.s_addr) & 0xFF) >= 128 && (ntohl(a.s_addr) & 0xFF) <= 254);
        CHECK((ntohl(a.s_addr) & 0xFFFFFF00) == (ntohl(bridge.s_addr) & 0xFFFFFF00));
        /* The same at every start, another one if that is taken. */
        CHECK(lease_pick("web", bridge, 24, NULL, 0, &b) == 0 && a.s_addr == b.s_addr);
        CHECK(lease_pick("web", bridge, 24, &a, 1, &b) == 0 && a.s_addr != b.s_addr);
        /* Full: 127 addresses, all taken. */
        for (unsigned i = 0; i < 127; i++)
                used[i].s_addr = htonl((ntohl(bridge.s_addr) & 0xFFFFFF00) + 128 + i);
        CHECK(lease_pick("web", bridge, 24, used, 127, &b) == -ENOSPC);
        CHECK(lease_pick("web", bridge, 31, NULL, 0, &b) == -ERANGE);
        /* A /30: only .2 is in the upper half (.3 is broadcast); never the bridge's own. */
        (void) inet_pton(AF_INET, "192.168.5.2", &bridge);
        CHECK(lease_pick("web", bridge, 30, NULL, 0, &b) == -ENOSPC);
        (void) inet_pton(AF_INET, "192.168.5.1", &bridge);
        CHECK(lease_pick("web", bridge, 30, NULL, 0, &b) == 0 && ntohl(b.s_addr) == 0xC0A80502);
}

int main(void) {
        test_forward_parse();
        test_forward_overlaps();
        test_lease_pick();
        TESTS_EXIT();
}
