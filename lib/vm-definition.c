/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A definition as a whole: the enums' names, defaults and cross-checks
 * after parsing, and loading NAME over cowvm.conf. The key table is in
 * definition-parse.c, where definitions are in definition-find.c, the host
 * paths in vm-layout.c and what the VM boots in vm-boot.c.
 */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "definition-parse.h"
#include "log.h"
#include "path-util.h"
#include "strv.h"
#include "vm-definition.h"
#include "vm-identity.h"
#include "vm-network.h"

static const char *const hypervisor_table[_HYPERVISOR_MAX] = {
        [HYPERVISOR_CLOUD_HYPERVISOR] = "cloud-hypervisor",
        [HYPERVISOR_QEMU] = "qemu",
};
static const char *const ready_on_table[_READY_ON_MAX] = {
        [READY_ON_VMM] = "vmm",
        [READY_ON_GUEST] = "guest",
};
static const char *const virtiofs_cache_table[_VIRTIOFS_CACHE_MAX] = {
        [VIRTIOFS_CACHE_AUTO] = "auto",
        [VIRTIOFS_CACHE_ALWAYS] = "always",
        [VIRTIOFS_CACHE_NEVER] = "never",
};

#define DEFINE_STRING_TABLE(name, type, table, max, invalid)                                                          \
        const char *name##_to_string(type v) {                                                                        \
                return v >= 0 && (size_t) v < (max) ? table[v] : NULL;                                                \
        }                                                                                                             \
        type name##_from_string(const char *s) {                                                                      \
                for (size_t i = 0; i < (max); i++)                                                                    \
                        if (table[i] && streq(table[i], s))                                                           \
                                return (type) i;                                                                      \
                return invalid;                                                                                       \
        }

DEFINE_STRING_TABLE(hypervisor, Hypervisor, hypervisor_table, _HYPERVISOR_MAX, _HYPERVISOR_INVALID)
DEFINE_STRING_TABLE(ready_on, ReadyOn, ready_on_table, _READY_ON_MAX, _READY_ON_INVALID)
DEFINE_STRING_TABLE(virtiofs_cache, VirtiofsCache, virtiofs_cache_table, _VIRTIOFS_CACHE_MAX, _VIRTIOFS_CACHE_INVALID)

VmDefinition *vm_definition_free(VmDefinition *d) {
        if (!d)
                return NULL;
        free(d->name);
        free(d->path);
        free(d->base);
        free(d->kernel);
        free(d->initrd);
        free(d->kernel_command_line);
        free(d->hostname);
        free(d->user);
        free(d->password_hash);
        strv_free(d->ssh_authorized_keys);
        free(d->bridge);
        strv_free(d->addresses);
        free(d->gateway);
        strv_free(d->dns);
        strv_free(d->forwards);
        free(d->base_dir);
        free(d->kernel_path);
        free(d->initrd_path);
        vm_layout_done(&d->layout);
        free(d);
        return NULL;
}

static VmDefinition *vm_definition_new(void) {
        VmDefinition *d = calloc(1, sizeof(VmDefinition));

        if (!d)
                return NULL;
        *d = (VmDefinition) {
                .hypervisor = _HYPERVISOR_INVALID,
                .autostart = -1,
                .ephemeral = -1,
                .min_free_space = UINT64_MAX,
                .ready_on = _READY_ON_INVALID,
                .timeout_start_usec = USEC_UNSET,
                .timeout_stop_usec = USEC_UNSET,
                .memory_overhead = UINT64_MAX,
                .dhcp = -1,
                .virtiofs_cache = _VIRTIOFS_CACHE_INVALID,
        };
        return d;
}

bool vm_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > VM_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

/* ---- defaults and derived state ---------------------------------------- */

static int copy_defaults(VmDefinition *d, const VmDefinition *def) {
#define COPY_STR(f)                                                                                                   \
        do {                                                                                                          \
                if (def->f && !(d->f = strdup(def->f)))                                                               \
                        return -ENOMEM;                                                                               \
        } while (0)
#define COPY_STRV(f)                                                                                                  \
        do {                                                                                                          \
                if (def->f && !(d->f = strv_copy(def->f)))                                                            \
                        return -ENOMEM;                                                                               \
        } while (0)

        d->hypervisor = def->hypervisor;
        d->cpus = def->cpus;
        d->memory = def->memory;
        d->autostart = def->autostart;
        d->ephemeral = def->ephemeral;
        d->disk_size = def->disk_size;
        d->min_free_space = def->min_free_space;
        d->ready_on = def->ready_on;
        d->timeout_start_usec = def->timeout_start_usec;
        d->timeout_stop_usec = def->timeout_stop_usec;
        d->memory_overhead = def->memory_overhead;
        d->tasks_max = def->tasks_max;
        d->cpu_weight = def->cpu_weight;
        d->cpu_quota_percent = def->cpu_quota_percent;
        d->dhcp = def->dhcp;
        d->virtiofs_cache = def->virtiofs_cache;
        d->virtiofs_thread_pool_size = def->virtiofs_thread_pool_size;
        COPY_STR(base);
        COPY_STR(kernel);
        COPY_STR(initrd);
        COPY_STR(kernel_command_line);
        COPY_STR(user);
        COPY_STR(password_hash);
        COPY_STRV(ssh_authorized_keys);
        COPY_STR(bridge);
        COPY_STR(gateway);
        COPY_STRV(dns);
        return 0;
#undef COPY_STR
#undef COPY_STRV
}

/* Threads of one VM: QEMU's vCPU threads, main loop, RCU and I/O workers
 * (its thread pool grows to 64), virtiofsd's thread pool (ThreadPoolSize=)
 * and one thread per virtqueue, ch-launch. 512 covers that for the usual
 * sizes; the default grows with CPUs= and ThreadPoolSize= so that a VM never
 * fails to start on a limit it did not ask for. */
static unsigned default_tasks_max(const VmDefinition *d) {
        unsigned need = 128 + d->cpus + d->virtiofs_thread_pool_size;

        return need > VM_DEFAULT_TASKS_MAX ? need : VM_DEFAULT_TASKS_MAX;
}

static int finalize(VmDefinition *d) {
        if (!d->base)
                return log_syntax(d->path, 0, LOG_ERR, EINVAL, "Base= is not set in [VM]; it is required.");
        if (d->cpus == 0)
                d->cpus = VM_DEFAULT_CPUS;
        if (d->memory == 0)
                d->memory = VM_DEFAULT_MEMORY;
        if (d->autostart < 0)
                d->autostart = false;
        if (d->ephemeral < 0)
                d->ephemeral = false;
        if (d->min_free_space == UINT64_MAX)
                d->min_free_space = VM_DEFAULT_MIN_FREE_SPACE;
        if (d->ready_on < 0)
                d->ready_on = READY_ON_GUEST;
        if (d->memory_overhead == UINT64_MAX)
                d->memory_overhead = VM_DEFAULT_MEMORY_OVERHEAD;
        if (d->tasks_max == 0)
                d->tasks_max = default_tasks_max(d);
        if (d->cpu_weight == 0)
                d->cpu_weight = VM_DEFAULT_CPU_WEIGHT;
        /* On the default network an address comes from its DHCP server
         * unless one is given. */
        if (d->dhcp < 0)
                d->dhcp = d->bridge && streq(d->bridge, COWVM_DEFAULT_BRIDGE) && strv_length(d->addresses) == 0;
        if (d->virtiofs_cache < 0)
                d->virtiofs_cache = VIRTIOFS_CACHE_AUTO;
        if (!d->hostname && !(d->hostname = strdup(d->name)))
                return log_oom();
        if (!d->user && !(d->user = strdup("root")))
                return log_oom();
        if (!d->mac_set)
                vm_stable_mac(d->name, &d->mac);
        if (!(d->base_dir = vm_layout_base_dir(d->base)) || vm_layout_make(d->name, d->ephemeral, &d->layout) < 0)
                return log_oom();
        return 0;
}

static int open_definition(const char *path, FILE **ret) {
        FILE *f = fopen(path, "re");

        if (!f)
                return log_error_errno(errno, "Failed to open '%s': %m", path);
        *ret = f;
        return 0;
}

int vm_defaults_load(VmDefinition **ret) {
        _cleanup_vm_definition_free_ VmDefinition *d = vm_definition_new();

        if (!d)
                return log_oom();

        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                _cleanup_free_ char *p = path_join(*dir, COWVM_CONF);
                _cleanup_fclose_ FILE *f = NULL;

                if (!p)
                        return log_oom();
                f = fopen(p, "re");
                if (!f) {
                        if (errno == ENOENT)
                                continue;
                        log_warning_errno(errno, "Failed to open '%s', ignoring: %m", p);
                        continue;
                }

                /* Parse the whole file; a bad value is logged and that key
                 * keeps its built-in default, as the parser never stores a
                 * value it rejected. */
                if (definition_parse_file(d, p, f, true) == -ENOMEM)
                        return -ENOMEM;
                break;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

int vm_definition_parse(const char *name, const char *path, const VmDefinition *defaults, VmDefinition **ret) {
        _cleanup_vm_definition_free_ VmDefinition *d = vm_definition_new();
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        assert(name && path && ret);
        if (!d)
                return log_oom();
        if (defaults && copy_defaults(d, defaults) < 0)
                return log_oom();
        d->name = strdup(name);
        d->path = strdup(path);
        if (!d->name || !d->path)
                return log_oom();

        r = open_definition(path, &f);
        if (r < 0)
                return r;
        r = definition_parse_file(d, path, f, false);
        if (r < 0)
                return r;
        r = finalize(d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

static int log_not_found(const char *name, int error) {
        _cleanup_free_ char *where = NULL;
        size_t len = 0;
        FILE *s = open_memstream(&where, &len);

        if (!s)
                return log_oom();
        for (char *const *dir = vm_definition_dirs(); *dir; dir++)
                fprintf(s, "%s%s/%s%s", dir == vm_definition_dirs() ? "" : ", ", *dir, name, VM_DEFINITION_SUFFIX);
        fclose(s);

        if (error == -ERFKILL)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                       "VM '%s' is masked (its definition is a symlink to /dev/null).", name);
        return log_error_errno(SYNTHETIC_ERRNO(ENOENT), "VM '%s' is not defined: no definition at %s.", name,
                               strempty(where));
}

int vm_definition_load(const char *name, VmDefinition **ret) {
        _cleanup_vm_definition_free_ VmDefinition *defaults = NULL, *d = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        assert(name && ret);
        if (!vm_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "'%s' is not a valid VM name: use a-z, 0-9 and '-', at most %d characters, "
                                       "no '-' at either end.",
                                       name, VM_NAME_MAX);

        r = vm_definition_find(name, &path);
        if (r == -ENOENT || r == -ERFKILL)
                return log_not_found(name, r);
        if (r < 0)
                return log_error_errno(r, "Failed to look up the definition of VM '%s': %m", name);

        r = vm_defaults_load(&defaults);
        if (r < 0)
                return r;
        r = vm_definition_parse(name, path, defaults, &d);
        if (r == -EINVAL)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "The definition of VM '%s' in '%s' was rejected (see above).", name, path);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}
