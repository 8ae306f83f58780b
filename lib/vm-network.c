/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "parse-util.h"
#include "sha256.h"
#include "vm-network.h"

static int parse_port(const char *s, size_t len, uint16_t *ret) {
        char buf[8];
        unsigned v;

        if (len == 0 || len >= sizeof buf)
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (parse_unsigned(buf, 1, 65535, &v) < 0)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

/* HOSTADDR as written ("127.0.0.1", "[::1]"), normalized into f->host. */
static int parse_host(const char *s, size_t len, Forward *f) {
        char buf[INET6_ADDRSTRLEN + 2];
        union {
                struct in_addr in;
                struct in6_addr in6;
        } a;

        if (len < 2 || len >= sizeof buf)
                return -EINVAL;
        if (s[0] == '[') {
                if (s[len - 1] != ']' || len - 2 >= INET6_ADDRSTRLEN)
                        return -EINVAL;
                memcpy(buf, s + 1, len - 2);
                buf[len - 2] = '\0';
                f->family = AF_INET6;
        } else {
                memcpy(buf, s, len);
                buf[len] = '\0';
                f->family = AF_INET;
        }
        if (inet_pton(f->family, buf, &a) != 1)
                return -EINVAL;
        if (!inet_ntop(f->family, &a, f->host, sizeof f->host))
                return -EINVAL;
        return 0;
}

int forward_parse(const char *s, Forward *ret) {
        Forward f = { .family = AF_UNSPEC };
        const char *guest, *hport;

        if (isempty(s))
                return -EINVAL;
        guest = strrchr(s, ':');
        if (!guest || parse_port(guest + 1, strlen(guest + 1), &f.guest_port) < 0)
                return -EINVAL;
        /* The host port is what lies between the colon before `guest` (or
         * the start) and `guest`; an IPv6 address has colons of its own, but
         * only inside its brackets. */
        hport = guest;
        while (hport > s && hport[-1] != ':' && hport[-1] != ']')
                hport--;
        if (hport > s && hport[-1] == ']')
                return -EINVAL;
        if (parse_port(hport, (size_t) (guest - hport), &f.host_port) < 0)
                return -EINVAL;
        if (hport > s && parse_host(s, (size_t) (hport - 1 - s), &f) < 0)
                return -EINVAL;
        *ret = f;
        return 0;
}

void forward_listen_format(const Forward *f, char ret[static INET6_ADDRSTRLEN + 8]) {
        if (f->family == AF_INET6)
                (void) snprintf(ret, INET6_ADDRSTRLEN + 8, "[%s]:%u", f->host, f->host_port);
        else if (f->family == AF_INET)
                (void) snprintf(ret, INET6_ADDRSTRLEN + 8, "%s:%u", f->host, f->host_port);
        else
                (void) snprintf(ret, INET6_ADDRSTRLEN + 8, "%u", f->host_port);
}

bool forward_overlaps(const Forward *a, const Forward *b) {
        if (a->host_port != b->host_port)
                return false;
        /* A port without an address is every address of both families. */
        if (a->family == AF_UNSPEC || b->family == AF_UNSPEC)
                return true;
        return a->family == b->family && streq(a->host, b->host);
}

static bool addr_in(const struct in_addr *l, size_t n, uint32_t a) {
        for (size_t i = 0; i < n; i++)
                if (ntohl(l[i].s_addr) == a)
                        return true;
        return false;
}

int lease_pick(const char *name, struct in_addr bridge, unsigned prefix, const struct in_addr *used, size_t n_used,
               struct in_addr *ret) {
        uint8_t h[SHA256_DIGEST_SIZE];
        char buf[128];
        uint32_t hosts, first, size, net, start;
        int n;

        if (prefix > 30)
                return -ERANGE;
        hosts = prefix == 0 ? UINT32_MAX : (uint32_t) 1 << (32 - prefix);
        net = ntohl(bridge.s_addr) & ~(hosts - 1);
        /* The upper half, without the broadcast address. */
        first = hosts / 2;
        size = hosts - 1 - first;

        n = snprintf(buf, sizeof buf, "cowvm:lease:%s", name);
        sha256(buf, (size_t) n < sizeof buf ? (size_t) n : sizeof buf - 1, h);
        start = ((uint32_t) h[0] << 24 | (uint32_t) h[1] << 16 | (uint32_t) h[2] << 8 | h[3]) % size;

        for (uint32_t i = 0; i < size; i++) {
                uint32_t a = net + first + (start + i) % size;

                if (a == ntohl(bridge.s_addr) || addr_in(used, n_used, a))
                        continue;
                ret->s_addr = htonl(a);
                return 0;
        }
        return -ENOSPC;
}
