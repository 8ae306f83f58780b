/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Identifiers derived from a VM's name alone, so that they are stable across
 * restarts, re-creation and hosts: the guest's machine-id (also its SMBIOS
 * UUID), the MAC address of its NIC, and the name of its host tap device.
 * Each is SHA-256 over a purpose string and the name, so the three never
 * share bits.
 */

#include <net/ethernet.h>
#include <net/if.h>

/* A version-4-style 128-bit id: 32 lowercase hex digits, no dashes (machine-id(5)). */
void vm_machine_id(const char *name, char ret[static 33]);
/* The same id as a UUID, 8-4-4-4-12, for SMBIOS system_uuid=. */
void vm_uuid(const char *name, char ret[static 37]);
/* A locally administered unicast MAC (02:xx:...; the first octet has bit 1 set, bit 0 clear). */
void vm_stable_mac(const char *name, struct ether_addr *ret);
/* "vm-NAME" when that fits in IFNAMSIZ, else "vh-" + the first 4 characters
 * + 8 hex digits of the name's hash: two long names that differ anywhere get
 * different taps, and the "vh-" prefix keeps them apart from short names. */
void vm_tap_name(const char *name, char ret[static IFNAMSIZ]);
