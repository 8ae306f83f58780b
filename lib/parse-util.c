/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse-util.h"

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcaseeq(s, yes[i]))
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcaseeq(s, no[i]))
                        return 0;
        return -EINVAL;
}

int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret) {
        unsigned long v;
        char *end;

        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;

        switch (end[0]) {
        case '\0':
                break;
        case 'K':
        case 'k':
                shift = 10;
                break;
        case 'M':
        case 'm':
                shift = 20;
                break;
        case 'G':
        case 'g':
                shift = 30;
                break;
        case 'T':
        case 't':
                shift = 40;
                break;
        default:
                return -EINVAL;
        }
        if (end[0] != '\0') {
                /* Also accept the "512MiB"/"512MB" spellings people type. */
                const char *rest = end + 1;
                if (!streq(rest, "") && !streq(rest, "B") && !streq(rest, "iB"))
                        return -EINVAL;
        }
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;

        *ret = (uint64_t) v << shift;
        return 0;
}

int parse_ether_addr(const char *s, struct ether_addr *ret) {
        struct ether_addr a;
        unsigned b[6];
        char tail;

        if (strlen(s) != 17)
                return -EINVAL;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                if (!isxdigit((unsigned char) s[i * 3]) || !isxdigit((unsigned char) s[i * 3 + 1]))
                        return -EINVAL;
                a.ether_addr_octet[i] = (uint8_t) b[i];
        }
        *ret = a;
        return 0;
}

bool ip_address_is_valid(const char *s, bool prefix) {
        unsigned char buf[sizeof(struct in6_addr)];
        char addr[INET6_ADDRSTRLEN + 1];
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t) (slash - s) : strlen(s);
        unsigned plen;
        int family;

        if (!!slash != prefix || len == 0 || len >= sizeof addr)
                return false;
        memcpy(addr, s, len);
        addr[len] = '\0';

        if (inet_pton(AF_INET, addr, buf) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, addr, buf) == 1)
                family = AF_INET6;
        else
                return false;

        if (!prefix)
                return true;
        return parse_unsigned(slash + 1, 0, family == AF_INET ? 32 : 128, &plen) >= 0;
}

bool string_has_cc(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
                        return true;
        return false;
}

bool hostname_is_valid(const char *s) {
        size_t label = 0, n = strlen(s);

        /* The kernel's limit for uname's nodename is 64 bytes. */
        if (n == 0 || n > 64)
                return false;
        for (const char *p = s; *p; p++) {
                if (*p == '.') {
                        if (label == 0 || p[-1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!isalnum((unsigned char) *p) && *p != '-')
                        return false;
                if (*p == '-' && label == 0)
                        return false;
                if (++label > 63)
                        return false;
        }
        return label > 0 && s[n - 1] != '-';
}

bool user_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32)
                return false;
        if (!(islower((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!islower((unsigned char) *p) && !isdigit((unsigned char) *p) && *p != '_' && *p != '-')
                        return false;
        return true;
}

bool ifname_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || isspace((unsigned char) *p) || (unsigned char) *p < 0x21 ||
                    (unsigned char) *p >= 0x7f)
                        return false;
        return true;
}

bool password_hash_is_valid(const char *s) {
        /* Locked accounts: "!" or "*" alone, or "!" in front of a hash. */
        if (streq(s, "!") || streq(s, "*") || streq(s, "!*"))
                return true;
        if (s[0] == '!')
                s++;
        /* "$id$..." with id one of crypt(3)'s prefixes; the hash alphabet is
         * [./0-9A-Za-z] plus '$', ',' and '=' for parameters. A ':' would
         * corrupt /etc/shadow. */
        if (s[0] != '$' || strlen(s) < 13)
                return false;
        if (!(strncmp(s, "$1$", 3) == 0 || strncmp(s, "$5$", 3) == 0 || strncmp(s, "$6$", 3) == 0 ||
              strncmp(s, "$y$", 3) == 0 || strncmp(s, "$gy$", 4) == 0 || strncmp(s, "$7$", 3) == 0 ||
              strncmp(s, "$2b$", 4) == 0 || strncmp(s, "$2y$", 4) == 0 || strncmp(s, "$2a$", 4) == 0 ||
              strncmp(s, "$sha1$", 6) == 0 || strncmp(s, "$md5", 4) == 0))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("./$,=", *p))
                        return false;
        return true;
}

bool ssh_authorized_key_is_valid(const char *s) {
        static const char *const prefixes[] = { "ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-", "rsa-sha2-" };
        const char *p = s;

        if (string_has_cc(s))
                return false;
        /* Some field must be a key type, followed by base64 key material. */
        while (*p) {
                size_t len;

                p += strspn(p, " \t");
                len = strcspn(p, " \t");
                for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                        if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0) {
                                const char *k = p + len;
                                k += strspn(k, " \t");
                                return strspn(k,
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") >=
                                       16;
                        }
                p += len;
        }
        return false;
}
