/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The host side of a VM's NIC: a tap device on a bridge (docs/networking.md).
 *
 * The tap is created with TUNSETIFF and never made persistent, so the kernel
 * removes it when the last file descriptor on it is closed. ch-launch hands
 * its only descriptor to the hypervisor: however the hypervisor ends (a clean
 * exit, SIGKILL, ch-launch killed and the hypervisor with it through
 * PR_SET_PDEATHSIG) the tap goes with it, and nothing has to clean up after.
 *
 * Plain ioctls, no netlink: TUNSETIFF, SIOCSIFHWADDR, SIOCSIFMTU,
 * SIOCBRADDIF and SIOCSIFFLAGS are all it takes, and libsystemd does not
 * export sd-netlink. None of these functions logs.
 */

#include <net/ethernet.h>
#include <net/if.h>

/* The MAC of the tap device itself (not the guest's): FE and the guest's
 * last five bytes, as libvirt does. A bridge takes the lowest MAC of its
 * ports as its own unless one was set; 0xFE keeps a VM's tap from ever being
 * the lowest, so VMs coming and going do not change the bridge's address. */
void tap_host_mac(const struct ether_addr *guest, struct ether_addr *ret);

/* "02:ab:..." in lowercase, as both hypervisors take it. */
void ether_addr_format(const struct ether_addr *a, char ret[static 18]);

/* Looks up the bridge: its ifindex and MTU. -ENODEV when there is no
 * interface of that name. (Whether it is a bridge shows when a port is
 * added: tap_attach() returns -EOPNOTSUPP.) */
int bridge_lookup(const char *bridge, int *ret_ifindex, unsigned *ret_mtu);

/* Creates the tap `ifname` (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) and returns the
 * file descriptor that keeps it alive. Exclusive (IFF_TUN_EXCL): a device of
 * that name that already exists is never taken over, -EBUSY. */
int tap_open(const char *ifname, int *ret_fd);

/* Sets the tap's MAC and MTU, makes it a port of `bridge` and brings it up.
 * -EOPNOTSUPP: `bridge` is not a bridge. */
int tap_attach(const char *ifname, const struct ether_addr *mac, unsigned mtu, const char *bridge);
