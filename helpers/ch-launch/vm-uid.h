/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The hypervisor's user: one uid (and the gid of the same number) per VM, in
 * the way systemd's DynamicUser= allocates: from a fixed range, the first
 * candidate derived from the VM's name, linear probing on a collision, held
 * by a lock file DIR/UID that contains the VM's name.
 *
 * The range is the last 64K block of systemd's container range (524288 to
 * 1879048191, docs/UIDS-GIDS.md of systemd): nothing but container and VM
 * managers allocate there, and none of systemd's own allocators (DynamicUser=
 * in 61184-65519, systemd-homed in 60001-60513) can hand out one of these ids
 * to a service while a VM uses it. A uid that /etc/passwd or /etc/group
 * (anything NSS knows) has is skipped.
 */

#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>

#define VM_UID_MIN ((uid_t) 0x6FFF0000U) /* 1878982656 */
#define VM_UID_COUNT 65536U
#define VM_UID_MAX ((uid_t) (VM_UID_MIN + VM_UID_COUNT - 1))

/* The `attempt`th candidate for `name`: the hash of the name, probed linearly. */
uid_t vm_uid_candidate(const char *name, unsigned attempt);
static inline bool vm_uid_in_range(uid_t u) {
        return u >= VM_UID_MIN && u <= VM_UID_MAX;
}

typedef struct VmUid {
        uid_t uid;
        int lock_fd; /* flock()ed for as long as the VM runs */
        char *lock_path;
} VmUid;

#define VM_UID_NULL                                                                                                   \
        { .uid = (uid_t) -1, .lock_fd = -EBADF }

/* Takes the first free candidate for `name`: a lock file in `dir` (created
 * 0755) made with O_EXCL, or one whose holder died (its flock is free: a
 * ch-launch killed with SIGKILL). `taken(uid)` says whether something else
 * owns the id (NULL: NSS, getpwuid()/getgrgid()). */
int vm_uid_acquire(const char *dir, const char *name, bool (*taken)(uid_t), VmUid *ret);
/* Removes the lock file and releases the lock. */
void vm_uid_release(VmUid *u);
/* Whether NSS knows the id as a user or a group. */
bool vm_uid_known_to_nss(uid_t u);
