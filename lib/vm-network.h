/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The default network and port forwarding (docs/networking.md), the parts
 * the parser, the generator and the cowvm-network helper share: the name of
 * the bridge cowvm ships, the Forward= syntax, and how a VM's static DHCP
 * lease on that bridge is chosen.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bridge of the default network, and the .network file that makes it
 * (shipped in COWVM_NETWORK_DIR, enabled by linking it into
 * /etc/systemd/network): the static leases are drop-ins of that file. */
#define COWVM_DEFAULT_BRIDGE "cowvm0"
#define COWVM_DEFAULT_NETWORK_FILE "80-cowvm0.network"
#define COWVM_LEASE_DROPIN_DIR "/run/systemd/network/" COWVM_DEFAULT_NETWORK_FILE ".d"

/* Forward=[HOSTADDR:]HOSTPORT:GUESTPORT; an IPv6 HOSTADDR in brackets. */
typedef struct Forward {
        int family; /* AF_UNSPEC: every address of the host */
        char host[INET6_ADDRSTRLEN];
        uint16_t host_port;
        uint16_t guest_port;
} Forward;

/* -EINVAL unless `s` is a valid Forward= value. */
int forward_parse(const char *s, Forward *ret);

/* What the host listens on, as systemd's ListenStream= takes it:
 * "8080", "127.0.0.1:8080", "[::1]:8080". */
void forward_listen_format(const Forward *f, char ret[static INET6_ADDRSTRLEN + 8]);

/* Whether two forwards want the same host port on an address they share. */
bool forward_overlaps(const Forward *a, const Forward *b);

/* A VM's address on the default network: in the upper half of the bridge's
 * IPv4 subnet (the shipped [DHCPServer] pool is the lower half), first
 * choice taken from a hash of the VM's name so that it is the same at every
 * start, then the next one not in `used` (the addresses of the VMs that run)
 * nor the bridge's own. -ERANGE: the subnet is smaller than /30. -ENOSPC:
 * every address is taken. */
int lease_pick(const char *name, struct in_addr bridge, unsigned prefix, const struct in_addr *used, size_t n_used,
               struct in_addr *ret);
