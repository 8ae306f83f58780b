/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A VM definition: one INI file, /etc/cowvm/NAME.vm (or /run, /usr/lib), laid
 * over the host-wide defaults of cowvm.conf. The format is documented in
 * cowvm.vm(5); this is the one parser of it, shared by the generator and by
 * every helper, so that all of them agree on what a definition means.
 *
 * Parsing is table driven (definition-parse.c): every field starts unset,
 * defaults and cross-checks are applied after the whole file was read
 * (vm-definition.c), and every complaint names FILE:LINE and the key. Where
 * definitions are found is definition-find.c; the host paths of a VM are
 * vm-layout.h; its kernel, initrd and command line vm-boot.h.
 */

#include <net/ethernet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"
#include "vm-layout.h"

#define VM_NAME_MAX 63
/* The virtio-fs tag of the root filesystem: root=myfs on the kernel command line. */
#define VIRTIOFS_ROOT_TAG "myfs"
#define VM_DEFINITION_SUFFIX ".vm"
#define COWVM_CONF "cowvm.conf"
#define VM_DEFAULT_MEMORY (512ULL * 1024 * 1024)
#define VM_DEFAULT_CPUS 1U
#define VM_MEMORY_MIN (16ULL * 1024 * 1024)
/* Room for a booting guest's first writes; a smaller limit only fails it. */
#define VM_DISK_SIZE_MIN (16ULL * 1024 * 1024)
/* What the host keeps free for its journal, package manager and the other
 * VMs: starts are refused below it. */
#define VM_DEFAULT_MIN_FREE_SPACE (512ULL * 1024 * 1024)
#define VM_CPUS_MAX 255U
#define VIRTIOFS_THREAD_POOL_MAX 1024U
/* The VM's slice (cowvm.vm(5), [VM] MemoryOverhead= and the keys below it).
 * The overhead on top of Memory= is what the VM's processes take besides the
 * guest's RAM: QEMU's own heap (~90 MiB anonymous memory for a busybox guest
 * under TCG, translated code included; less under KVM), virtiofsd (a few MiB,
 * plus on the order of 1 KiB of user and kernel memory for every inode the
 * guest holds: the fd and the host dentry and inode it pins), ch-launch's
 * journal queue (8 MiB at most). 256M leaves room for a guest holding some
 * 100,000 inodes; one that caches a million files needs more. */
#define VM_DEFAULT_MEMORY_OVERHEAD (256ULL * 1024 * 1024)
/* Why 512: see default_tasks_max() in vm-definition.c. */
#define VM_DEFAULT_TASKS_MAX 512U
#define VM_TASKS_MAX_MAX 4194304U  /* the kernel's PID_MAX_LIMIT */
#define VM_DEFAULT_CPU_WEIGHT 100U /* systemd's own default */
#define VM_CPU_WEIGHT_MAX 10000U
#define VM_CPU_QUOTA_MAX 1000000U /* percent */

typedef enum Hypervisor {
        HYPERVISOR_CLOUD_HYPERVISOR,
        HYPERVISOR_QEMU,
        _HYPERVISOR_MAX,
        _HYPERVISOR_INVALID = -EINVAL,
} Hypervisor;

typedef enum ReadyOn {
        READY_ON_VMM,   /* the hypervisor says the VM runs */
        READY_ON_GUEST, /* the guest said it booted (see ch-launch(8)) */
        _READY_ON_MAX,
        _READY_ON_INVALID = -EINVAL,
} ReadyOn;

typedef enum VirtiofsCache {
        VIRTIOFS_CACHE_AUTO,
        VIRTIOFS_CACHE_ALWAYS,
        VIRTIOFS_CACHE_NEVER,
        _VIRTIOFS_CACHE_MAX,
        _VIRTIOFS_CACHE_INVALID = -EINVAL,
} VirtiofsCache;

const char *hypervisor_to_string(Hypervisor h);
Hypervisor hypervisor_from_string(const char *s);
const char *ready_on_to_string(ReadyOn r);
ReadyOn ready_on_from_string(const char *s);
const char *virtiofs_cache_to_string(VirtiofsCache c);
VirtiofsCache virtiofs_cache_from_string(const char *s);

typedef struct VmDefinition {
        char *name;
        char *path; /* the definition file it came from */

        /* [VM] */
        char *base;            /* as written: a base name or an absolute path */
        Hypervisor hypervisor; /* _HYPERVISOR_INVALID: pick at launch (cloud-hypervisor if installed) */
        unsigned cpus;
        uint64_t memory; /* bytes */
        char *kernel;    /* absolute, or relative to the base tree */
        char *initrd;
        char *kernel_command_line; /* appended to cowvm's own; NULL when none */
        int autostart;             /* tristate while parsing, bool after */
        int ephemeral;
        uint64_t disk_size;      /* bytes the upper layer may hold; 0: no limit */
        uint64_t min_free_space; /* host-wide reserve, cowvm.conf only; UINT64_MAX while unset */
        ReadyOn ready_on;
        usec_t timeout_start_usec; /* USEC_UNSET: the unit's default */
        usec_t timeout_stop_usec;
        /* The VM's slice: hypervisor, ch-launch and virtiofsd together. */
        uint64_t memory_overhead;   /* UINT64_MAX: unset */
        unsigned tasks_max;         /* 0: unset */
        unsigned cpu_weight;        /* 0: unset */
        unsigned cpu_quota_percent; /* 0: no quota */

        /* [Guest] */
        char *hostname;
        char *user;
        char *password_hash; /* crypt(3) hash, NULL: leave the password alone */
        char **ssh_authorized_keys;

        /* [Network] */
        char *bridge;
        struct ether_addr mac;
        bool mac_set;
        char **addresses; /* CIDR */
        int dhcp;
        char *gateway;
        char **dns;
        char **forwards; /* Forward=, as written (vm-network.h parses them) */

        /* [Virtiofs] */
        VirtiofsCache virtiofs_cache;
        unsigned virtiofs_thread_pool_size; /* 0: virtiofsd's default */

        /* Derived, never parsed. */
        char *base_dir;  /* the lower layer */
        VmLayout layout; /* the VM's host paths: vm-layout.h */
        /* Set by vm_boot_resolve() (vm-boot.h) only; NULL until then. */
        char *kernel_path;
        char *initrd_path; /* NULL too when the base has none */
} VmDefinition;

VmDefinition *vm_definition_free(VmDefinition *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(VmDefinition *, vm_definition_free);
#define _cleanup_vm_definition_free_ _cleanup_(vm_definition_freep)

/* A DNS label: a-z, 0-9 and '-', 1..63 characters, no '-' at either end. */
bool vm_name_is_valid(const char *name);

/* Directories searched for NAME.vm and cowvm.conf, highest priority first:
 * /etc/cowvm, /run/cowvm, /usr/lib/cowvm, or the colon-separated list in
 * $COWVM_DEFINITION_PATH (tests). */
char *const *vm_definition_dirs(void);

/* Finds NAME.vm in vm_definition_dirs(): the first directory that has it
 * wins. Returns -ENOENT when there is none, -ERFKILL when the winning file
 * is a symlink to /dev/null (masked). */
int vm_definition_find(const char *name, char **ret_path);

typedef struct VmDefinitionEntry {
        char *name;
        char *path;
} VmDefinitionEntry;

typedef struct VmDefinitionList {
        VmDefinitionEntry *entries;
        size_t n;
} VmDefinitionList;

void vm_definition_list_done(VmDefinitionList *l);

/* Every defined VM, sorted by name, each at the path vm_definition_find()
 * gives it; masked ones are left out. A file whose name is no valid VM
 * name is logged and skipped. -ENOMEM (logged), or 0. */
int vm_definitions_enumerate(VmDefinitionList *ret);

/* The host-wide defaults: cowvm.conf from the first definition directory
 * that has one, else built-in defaults. A bad value in cowvm.conf is logged
 * and ignored (it must not take every VM down). Never fails but for -ENOMEM. */
int vm_defaults_load(VmDefinition **ret);

/* Parses one file over `defaults` (may be NULL) into a new definition for
 * `name`, then applies defaults, cross-checks and derives paths. Logs every
 * problem as FILE:LINE; returns -EINVAL when the definition is rejected. */
int vm_definition_parse(const char *name, const char *path, const VmDefinition *defaults, VmDefinition **ret);

/* What a helper calls first: validates NAME, finds and parses its definition
 * over cowvm.conf. On failure it has logged a message a user can act on
 * (where it looked, or why the file was rejected) and returns < 0. Looks
 * nothing up in the base: see vm_boot_resolve() for that. */
int vm_definition_load(const char *name, VmDefinition **ret);
