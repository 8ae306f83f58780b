/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "parse-util.h"
#include "path-util.h"
#include "tests.h"
#include "time-util.h"

int main(void) {
        uint64_t sz;
        unsigned u;
        usec_t t;
        struct ether_addr a;
        char buf[64];

        CHECK(parse_boolean("yes") == 1 && parse_boolean("ON") == 1 && parse_boolean("t") == 1);
        CHECK(parse_boolean("0") == 0 && parse_boolean("False") == 0);
        CHECK(parse_boolean("maybe") < 0 && parse_boolean("") < 0);

        CHECK(parse_size("512M", &sz) == 0 && sz == 512ULL << 20);
        CHECK(parse_size("2G", &sz) == 0 && sz == 2ULL << 30);
        CHECK(parse_size("1GiB", &sz) == 0 && sz == 1ULL << 30);
        CHECK(parse_size("4096", &sz) == 0 && sz == 4096);
        CHECK(parse_size("1.5G", &sz) < 0 && parse_size("-1M", &sz) < 0 && parse_size("12X", &sz) < 0);
        CHECK(parse_size("99999999999999T", &sz) == -ERANGE);

        CHECK(parse_unsigned("4", 1, 255, &u) == 0 && u == 4);
        CHECK(parse_unsigned("0", 1, 255, &u) == -ERANGE && parse_unsigned("4x", 1, 9, &u) < 0);

        CHECK(parse_timespan("90", &t) == 0 && t == 90 * USEC_PER_SEC);
        CHECK(parse_timespan("1min 30s", &t) == 0 && t == 90 * USEC_PER_SEC);
        CHECK(parse_timespan("500ms", &t) == 0 && t == 500 * USEC_PER_MSEC);
        CHECK(parse_timespan("2h", &t) == 0 && t == 7200 * USEC_PER_SEC);
        CHECK(parse_timespan("infinity", &t) == 0 && t == USEC_INFINITY);
        CHECK(parse_timespan("soon", &t) < 0 && parse_timespan("", &t) < 0 && parse_timespan("5 parsecs", &t) < 0);
        CHECK_STREQ(format_timespan_unit(buf, sizeof buf, 90 * USEC_PER_SEC), "90s");
        CHECK_STREQ(format_timespan_unit(buf, sizeof buf, 1500 * USEC_PER_MSEC), "1500ms");
        CHECK_STREQ(format_timespan_unit(buf, sizeof buf, USEC_INFINITY), "infinity");

        CHECK(parse_ether_addr("02:00:00:aa:BB:cc", &a) == 0 && a.ether_addr_octet[4] == 0xbb);
        CHECK(parse_ether_addr("02:00:00:aa:bb", &a) < 0 && parse_ether_addr("02-00-00-aa-bb-cc", &a) < 0);
        CHECK(parse_ether_addr("02:00:00:aa:bb:cc:", &a) < 0 && parse_ether_addr("0g:00:00:aa:bb:cc", &a) < 0);

        CHECK(ip_address_is_valid("10.0.0.1/24", true) && ip_address_is_valid("fd00::1/64", true));
        CHECK(!ip_address_is_valid("10.0.0.1/33", true) && !ip_address_is_valid("10.0.0.1", true));
        CHECK(ip_address_is_valid("2001:db8::53", false) && !ip_address_is_valid("10.0.0.1/8", false));

        CHECK(hostname_is_valid("web-1") && hostname_is_valid("a.example.org"));
        CHECK(!hostname_is_valid("-web") && !hostname_is_valid("web-") && !hostname_is_valid("a..b") &&
              !hostname_is_valid("a_b") && !hostname_is_valid(""));
        CHECK(user_name_is_valid("root") && user_name_is_valid("_svc-1") && !user_name_is_valid("Root") &&
              !user_name_is_valid("1user") && !user_name_is_valid("a:b"));
        CHECK(ifname_is_valid("br0") && !ifname_is_valid("this-name-is-too-long") && !ifname_is_valid("a/b") &&
              !ifname_is_valid("a b"));

        CHECK(password_hash_is_valid("$y$j9T$abcdefghijkl$abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"));
        CHECK(password_hash_is_valid("!") && password_hash_is_valid("*"));
        CHECK(!password_hash_is_valid("hunter2") && !password_hash_is_valid("$6$salt$has:colon0000"));
        CHECK(ssh_authorized_key_is_valid("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1cD3k7 me"));
        CHECK(!ssh_authorized_key_is_valid("not a key") && !ssh_authorized_key_is_valid("ssh-ed25519"));

        CHECK(path_is_normalized("/a/b") && path_is_normalized("/") && !path_is_normalized("/a/../b") &&
              !path_is_normalized("/a//b") && !path_is_normalized("a/b") && !path_is_normalized("/a/"));
        CHECK(path_is_safe_relative("boot/vmlinuz") && !path_is_safe_relative("../x") &&
              !path_is_safe_relative("/x") && !path_is_safe_relative("a//b"));
        TESTS_EXIT();
}
