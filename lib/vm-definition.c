/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"
#include "vm-definition.h"
#include "vm-identity.h"
#include "vm-network.h"

/* Longest line accepted. An RSA-4096 authorized_keys line is ~750 bytes;
 * this leaves room for options in front of it. */
#define DEFINITION_LINE_MAX (64U * 1024U)

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
        free(d->state_dir);
        free(d->upper_dir);
        free(d->work_dir);
        free(d->runtime_dir);
        free(d->root_dir);
        free(d->virtiofsd_socket);
        free(d->vmm_dir);
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

/* ---- paths --------------------------------------------------------------- */

char *const *vm_definition_dirs(void) {
        static char *defaults[] = { "/etc/cowvm", "/run/cowvm", "/usr/lib/cowvm", NULL };
        static char **from_env = NULL;
        const char *e;

        if (from_env)
                return from_env;

        e = getenv("COWVM_DEFINITION_PATH");
        if (isempty(e))
                return defaults;

        /* Parsed once per process; a failure falls back to the defaults. */
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = strdup(e);
        char *state = NULL;
        if (!copy)
                return defaults;
        for (char *t = strtok_r(copy, ":", &state); t; t = strtok_r(NULL, ":", &state))
                if (strv_extend(&l, t) < 0)
                        return defaults;
        from_env = TAKE_PTR(l);
        return from_env ?: defaults;
}

const char *cowvm_state_dir(void) {
        const char *e = getenv("COWVM_STATE_DIR");
        return isempty(e) ? "/var/lib/cowvm" : e;
}

const char *cowvm_runtime_dir(void) {
        const char *e = getenv("COWVM_RUNTIME_DIR");
        return isempty(e) ? "/run/cowvm" : e;
}

/* ---- what a base may not be ---------------------------------------------- */

typedef struct HostArea {
        const char *path; /* NULL: below the state directory, see `state_sub` */
        const char *state_sub;
        bool runtime;
        const char *what;
        bool inside_too; /* a path below it is refused as well */
} HostArea;

static const HostArea host_areas[] = {
        { .state_sub = "vms", .what = "the VMs' disks", .inside_too = true },
        { .runtime = true, .what = "the VMs' runtime state and roots", .inside_too = true },
        { "/proc", .what = "the host kernel's live state", .inside_too = true },
        { "/sys", .what = "the host kernel's live state", .inside_too = true },
        { "/dev", .what = "the host's devices", .inside_too = true },
        { "/etc", .what = "the host's configuration and secrets" },
        { "/root", .what = "root's home" },
        { "/home", .what = "the users' files" },
        { "/boot", .what = "the host's kernels" },
};

const char *base_path_refusal(const char *base, char **ret_buf) {
        *ret_buf = NULL;
        if (streq(base, "/"))
                return "it is the host's root file system: the guest would read every file of the host "
                       "(/etc/shadow, its SSH host keys) and every VM's disk";

        for (size_t i = 0; i < ELEMENTSOF(host_areas); i++) {
                const HostArea *a = &host_areas[i];
                _cleanup_free_ char *dir = a->state_sub ? path_join(cowvm_state_dir(), a->state_sub)
                                                        : strdup(a->runtime ? cowvm_runtime_dir() : a->path);
                const char *how;

                if (!dir)
                        return "out of memory";
                if (streq(dir, base))
                        how = "is";
                else if (path_is_below_or_at(dir, base))
                        how = "contains";
                else if (a->inside_too && path_is_below_or_at(base, dir))
                        how = "lies inside";
                else
                        continue;
                if (asprintf(ret_buf, "it %s %s, %s, which a guest must never see", how, dir, a->what) < 0)
                        return "out of memory";
                return *ret_buf;
        }
        return NULL;
}

/* ---- the key table ------------------------------------------------------- */

typedef struct ParseContext {
        VmDefinition *d;
        const char *file;
        FILE *f;
        unsigned line;   /* of the line inih is handing us */
        size_t line_len; /* bytes of the current line read so far */
        bool line_start; /* the next chunk the reader returns starts a line */
        bool line_too_long;
        bool line_has_inline_comment;
        bool defaults; /* parsing cowvm.conf */
        unsigned errors;
        char **warned; /* "Section\nKey" of unknown keys already warned about */
} ParseContext;

typedef int (*KeyParser)(ParseContext *c, const char *key, const char *value, void *field);

typedef struct KeyItem {
        const char *section;
        const char *key;
        KeyParser parse;
        size_t offset;
        bool vm_only; /* identifies one VM: meaningless in cowvm.conf */
} KeyItem;

#define bad_value(c, key, value, error, ...)                                                                          \
        log_syntax((c)->file, (c)->line, LOG_ERR, (error), "Invalid %s=%s: " __VA_ARGS__)

static int set_string(char **field, const char *value) {
        char *copy = strdup(value);

        if (!copy)
                return log_oom();
        free(*field);
        *field = copy;
        return 0;
}

static int parse_base(ParseContext *c, const char *key, const char *value, void *field) {
        if (value[0] == '/') {
                _cleanup_free_ char *buf = NULL;
                const char *why;

                if (!path_is_normalized(value) || string_has_cc(value) || strchr(value, '"'))
                        return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                          "Invalid %s=%s: an absolute path must be normalized (no '.', '..' or '//') "
                                          "and contain no control characters or '\"'.",
                                          key, value);
                why = base_path_refusal(value, &buf);
                if (why)
                        return log_syntax(c->file, c->line, LOG_ERR, EPERM, "Invalid %s=%s: %s.", key, value, why);
        } else if (!filename_is_valid(value) || value[0] == '.' || string_has_cc(value) || strchr(value, '"') ||
                   strchr(value, ' '))
                return log_syntax(
                        c->file, c->line, LOG_ERR, EINVAL,
                        "Invalid %s=%s: expected a base name (a directory under %s/bases/) or an absolute path.", key,
                        value, cowvm_state_dir());
        return set_string(field, value);
}

static int parse_path_in_base(ParseContext *c, const char *key, const char *value, void *field) {
        bool ok = value[0] == '/' ? path_is_normalized(value) : path_is_safe_relative(value);

        if (!ok || string_has_cc(value))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected an absolute path or a path inside the base tree, "
                                  "without '..'.",
                                  key, value);
        return set_string(field, value);
}

static int parse_hypervisor(ParseContext *c, const char *key, const char *value, void *field) {
        Hypervisor h = hypervisor_from_string(value);

        if (h < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected cloud-hypervisor or qemu.", key, value);
        *(Hypervisor *) field = h;
        return 0;
}

static int parse_cpus(ParseContext *c, const char *key, const char *value, void *field) {
        if (parse_unsigned(value, 1, VM_CPUS_MAX, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a number of CPUs from 1 to %u.", key, value, VM_CPUS_MAX);
        return 0;
}

static int parse_memory(ParseContext *c, const char *key, const char *value, void *field) {
        uint64_t v;

        if (parse_size(value, &v) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a size such as 512M or 2G (suffixes K, M, G, T).", key,
                                  value);
        if (v < VM_MEMORY_MIN)
                return log_syntax(
                        c->file, c->line, LOG_ERR, ERANGE,
                        "Invalid %s=%s: below the minimum of 16M (a bare number is bytes; did you mean %sM?).", key,
                        value, value);
        *(uint64_t *) field = v;
        return 0;
}

/* For the slice's keys an empty value means the built-in default, undoing
 * cowvm.conf's. */
static int parse_memory_overhead(ParseContext *c, const char *key, const char *value, void *field) {
        if (isempty(value)) {
                *(uint64_t *) field = UINT64_MAX;
                return 0;
        }
        if (parse_size(value, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a size such as 256M or 1G (suffixes K, M, G, T).", key,
                                  value);
        return 0;
}

static int parse_tasks_max(ParseContext *c, const char *key, const char *value, void *field) {
        if (isempty(value)) {
                *(unsigned *) field = 0;
                return 0;
        }
        if (parse_unsigned(value, 1, VM_TASKS_MAX_MAX, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a number of tasks from 1 to %u.", key, value,
                                  VM_TASKS_MAX_MAX);
        return 0;
}

static int parse_cpu_weight(ParseContext *c, const char *key, const char *value, void *field) {
        if (isempty(value)) {
                *(unsigned *) field = 0;
                return 0;
        }
        if (parse_unsigned(value, 1, VM_CPU_WEIGHT_MAX, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL, "Invalid %s=%s: expected a weight from 1 to %u.",
                                  key, value, VM_CPU_WEIGHT_MAX);
        return 0;
}

static int parse_cpu_quota(ParseContext *c, const char *key, const char *value, void *field) {
        _cleanup_free_ char *n = NULL;
        size_t len = strlen(value);

        if (len == 0) {
                *(unsigned *) field = 0;
                return 0;
        }
        if (value[len - 1] == '%' && !(n = strndup(value, len - 1)))
                return log_oom();
        if (!n || parse_unsigned(n, 1, VM_CPU_QUOTA_MAX, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a percentage from 1%% to %u%% (100%% is one host CPU).",
                                  key, value, VM_CPU_QUOTA_MAX);
        return 0;
}

/* Empty or "infinity": no limit, so that a VM can undo cowvm.conf's default. */
static int parse_disk_size(ParseContext *c, const char *key, const char *value, void *field) {
        uint64_t v;

        if (isempty(value) || streq(value, "infinity")) {
                *(uint64_t *) field = 0;
                return 0;
        }
        if (parse_size(value, &v) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a size such as 10G (suffixes K, M, G, T), or infinity.",
                                  key, value);
        if (v < VM_DISK_SIZE_MIN)
                return log_syntax(
                        c->file, c->line, LOG_ERR, ERANGE,
                        "Invalid %s=%s: below the minimum of 16M (a bare number is bytes; did you mean %sM?).", key,
                        value, value);
        *(uint64_t *) field = v;
        return 0;
}

/* A reserve of the host's: a VM's own file must not be able to lower it. */
static int parse_min_free_space(ParseContext *c, const char *key, const char *value, void *field) {
        uint64_t v;

        if (!c->defaults) {
                log_syntax(c->file, c->line, LOG_WARNING, 0, "%s= is a host-wide reserve and belongs in %s, ignoring.",
                           key, COWVM_CONF);
                return 0;
        }
        if (parse_size(value, &v) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a size such as 512M or 2G (suffixes K, M, G, T), "
                                  "or 0 for no reserve.",
                                  key, value);
        *(uint64_t *) field = v;
        return 0;
}

static int parse_bool_field(ParseContext *c, const char *key, const char *value, void *field) {
        int b = parse_boolean(value);

        if (b < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a boolean (yes/no, true/false, on/off, 1/0).", key, value);
        *(int *) field = b;
        return 0;
}

static int parse_ready_on(ParseContext *c, const char *key, const char *value, void *field) {
        ReadyOn r = ready_on_from_string(value);

        if (r < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL, "Invalid %s=%s: expected vmm or guest.", key,
                                  value);
        *(ReadyOn *) field = r;
        return 0;
}

static int parse_timeout(ParseContext *c, const char *key, const char *value, void *field) {
        usec_t t;

        if (parse_timespan(value, &t) < 0 || t == 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a time span such as 90s, 5min or infinity.", key, value);
        *(usec_t *) field = t;
        return 0;
}

static int parse_command_line(ParseContext *c, const char *key, const char *value, void *field) {
        char **s = field;

        if (string_has_cc(value))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=: control characters are not allowed.", key);
        /* Repeated assignments append, an empty one resets. */
        if (isempty(value)) {
                *s = mfree(*s);
                return 0;
        }
        if (!*s)
                return set_string(s, value);

        size_t n = strlen(*s), m = strlen(value);
        char *joined = realloc(*s, n + 1 + m + 1);
        if (!joined)
                return log_oom();
        joined[n] = ' ';
        memcpy(joined + n + 1, value, m + 1);
        *s = joined;
        return 0;
}

static int parse_hostname(ParseContext *c, const char *key, const char *value, void *field) {
        if (!hostname_is_valid(value))
                return log_syntax(
                        c->file, c->line, LOG_ERR, EINVAL,
                        "Invalid %s=%s: expected a host name (letters, digits, '-' and '.', at most 64 characters).",
                        key, value);
        return set_string(field, value);
}

static int parse_user(ParseContext *c, const char *key, const char *value, void *field) {
        if (!user_name_is_valid(value))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a user name ([a-z_][a-z0-9_-]*, at most 32 characters).",
                                  key, value);
        return set_string(field, value);
}

static int parse_password_hash(ParseContext *c, const char *key, const char *value, void *field) {
        if (!password_hash_is_valid(value))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=: this is not a crypt(3) hash, and plaintext passwords are refused. "
                                  "Make a hash with 'mkpasswd --method=yescrypt' (package whois) or "
                                  "'openssl passwd -6', and put the $y$... or $6$... string here.",
                                  key);
        return set_string(field, value);
}

static int parse_ssh_key(ParseContext *c, const char *key, const char *value, void *field) {
        char ***l = field;

        if (isempty(value)) {
                *l = strv_free(*l);
                return 0;
        }
        if (!ssh_authorized_key_is_valid(value))
                return log_syntax(
                        c->file, c->line, LOG_ERR, EINVAL,
                        "Invalid %s=: expected an OpenSSH public key line (\"ssh-ed25519 AAAA... comment\").", key);
        return strv_extend(l, value) < 0 ? log_oom() : 0;
}

static int parse_ifname(ParseContext *c, const char *key, const char *value, void *field) {
        if (!ifname_is_valid(value))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a network interface name (at most 15 characters).", key,
                                  value);
        return set_string(field, value);
}

static int parse_mac(ParseContext *c, const char *key, const char *value, void *field) {
        struct ether_addr *a = field;

        if (parse_ether_addr(value, a) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a MAC address such as 02:00:00:12:34:56.", key, value);
        if (a->ether_addr_octet[0] & 0x01)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: a multicast address cannot name a NIC.", key, value);
        c->d->mac_set = true;
        return 0;
}

static int parse_ip_list(ParseContext *c, const char *key, const char *value, void *field, bool prefix) {
        char ***l = field;

        if (isempty(value)) {
                *l = strv_free(*l);
                return 0;
        }
        if (!ip_address_is_valid(value, prefix))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL, "Invalid %s=%s: expected %s.", key, value,
                                  prefix ? "an address with a prefix length, such as 192.168.10.2/24"
                                         : "an IPv4 or IPv6 address");
        return strv_extend(l, value) < 0 ? log_oom() : 0;
}

static int parse_address(ParseContext *c, const char *key, const char *value, void *field) {
        return parse_ip_list(c, key, value, field, true);
}

static int parse_dns(ParseContext *c, const char *key, const char *value, void *field) {
        return parse_ip_list(c, key, value, field, false);
}

static int parse_gateway(ParseContext *c, const char *key, const char *value, void *field) {
        if (!ip_address_is_valid(value, false))
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected an IPv4 or IPv6 address.", key, value);
        return set_string(field, value);
}

static int parse_forward(ParseContext *c, const char *key, const char *value, void *field) {
        char ***l = field;
        Forward f;

        if (isempty(value)) {
                *l = strv_free(*l);
                return 0;
        }
        if (forward_parse(value, &f) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected [HOSTADDR:]HOSTPORT:GUESTPORT, ports 1-65535, such as "
                                  "8080:80 or 127.0.0.1:2222:22 ([::1]:8080:80 for IPv6).",
                                  key, value);
        STRV_FOREACH (o, *l) {
                Forward other;

                if (forward_parse(*o, &other) >= 0 && forward_overlaps(&f, &other))
                        return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                          "Invalid %s=%s: host port %u is forwarded already (%s=%s).", key, value,
                                          f.host_port, key, *o);
        }
        return strv_extend(l, value) < 0 ? log_oom() : 0;
}

static int parse_cache(ParseContext *c, const char *key, const char *value, void *field) {
        VirtiofsCache v = virtiofs_cache_from_string(value);

        if (v < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL, "Invalid %s=%s: expected auto, always or never.",
                                  key, value);
        *(VirtiofsCache *) field = v;
        return 0;
}

static int parse_thread_pool(ParseContext *c, const char *key, const char *value, void *field) {
        if (parse_unsigned(value, 0, VIRTIOFS_THREAD_POOL_MAX, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a number of threads from 0 to %u.", key, value,
                                  VIRTIOFS_THREAD_POOL_MAX);
        return 0;
}

#define F(field) offsetof(VmDefinition, field)
static const KeyItem key_table[] = {
        { "VM", "Base", parse_base, F(base), false },
        { "VM", "Hypervisor", parse_hypervisor, F(hypervisor), false },
        { "VM", "CPUs", parse_cpus, F(cpus), false },
        { "VM", "Memory", parse_memory, F(memory), false },
        { "VM", "Kernel", parse_path_in_base, F(kernel), false },
        { "VM", "Initrd", parse_path_in_base, F(initrd), false },
        { "VM", "KernelCommandLine", parse_command_line, F(kernel_command_line), false },
        { "VM", "Autostart", parse_bool_field, F(autostart), false },
        { "VM", "Ephemeral", parse_bool_field, F(ephemeral), false },
        { "VM", "DiskSize", parse_disk_size, F(disk_size), false },
        { "VM", "MinFreeSpace", parse_min_free_space, F(min_free_space), false },
        { "VM", "ReadyOn", parse_ready_on, F(ready_on), false },
        { "VM", "TimeoutStartSec", parse_timeout, F(timeout_start_usec), false },
        { "VM", "TimeoutStopSec", parse_timeout, F(timeout_stop_usec), false },
        { "VM", "MemoryOverhead", parse_memory_overhead, F(memory_overhead), false },
        { "VM", "TasksMax", parse_tasks_max, F(tasks_max), false },
        { "VM", "CPUWeight", parse_cpu_weight, F(cpu_weight), false },
        { "VM", "CPUQuota", parse_cpu_quota, F(cpu_quota_percent), false },
        { "Guest", "Hostname", parse_hostname, F(hostname), true },
        { "Guest", "User", parse_user, F(user), false },
        { "Guest", "PasswordHash", parse_password_hash, F(password_hash), false },
        { "Guest", "SSHAuthorizedKey", parse_ssh_key, F(ssh_authorized_keys), false },
        { "Network", "Bridge", parse_ifname, F(bridge), false },
        { "Network", "MAC", parse_mac, F(mac), true },
        { "Network", "Address", parse_address, F(addresses), true },
        { "Network", "DHCP", parse_bool_field, F(dhcp), false },
        { "Network", "Gateway", parse_gateway, F(gateway), false },
        { "Network", "DNS", parse_dns, F(dns), false },
        { "Network", "Forward", parse_forward, F(forwards), true },
        { "Virtiofs", "Cache", parse_cache, F(virtiofs_cache), false },
        { "Virtiofs", "ThreadPoolSize", parse_thread_pool, F(virtiofs_thread_pool_size), false },
};
#undef F

static bool section_is_known(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(key_table); i++)
                if (streq(key_table[i].section, section))
                        return true;
        return false;
}

/* Warns about an unknown section or key once per file. */
static void warn_unknown(ParseContext *c, const char *section, const char *key) {
        bool known_section = section_is_known(section);
        _cleanup_free_ char *id = NULL;

        if (asprintf(&id, "%s\n%s", section, known_section ? key : "") < 0)
                return;
        STRV_FOREACH (w, c->warned)
                if (streq(*w, id))
                        return;
        (void) strv_extend(&c->warned, id);

        if (isempty(section))
                log_syntax(c->file, c->line, LOG_WARNING, 0, "Assignment %s= outside of any section, ignoring.", key);
        else if (!known_section)
                log_syntax(c->file, c->line, LOG_WARNING, 0, "Unknown section [%s], ignoring it.", section);
        else
                log_syntax(c->file, c->line, LOG_WARNING, 0, "Unknown key %s= in section [%s], ignoring.", key,
                           section);
}

static int handle_key(void *userdata, const char *section, const char *key, const char *value) {
        ParseContext *c = userdata;

        if (c->line_too_long) {
                log_syntax(c->file, c->line, LOG_ERR, E2BIG, "Line is longer than %u bytes, rejecting.",
                           DEFINITION_LINE_MAX);
                c->errors++;
                return 1;
        }
        if (c->line_has_inline_comment) {
                log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                           "Value of %s= contains ' ;', which this build's libinih takes for a comment; rejecting.",
                           key);
                c->errors++;
                return 1;
        }

        for (size_t i = 0; i < ELEMENTSOF(key_table); i++) {
                const KeyItem *k = key_table + i;

                if (!streq(k->section, section) || !streq(k->key, key))
                        continue;

                if (c->defaults && k->vm_only) {
                        log_syntax(c->file, c->line, LOG_WARNING, 0,
                                   "%s= identifies a single VM and belongs in its NAME.vm file, ignoring.", key);
                        return 1;
                }
                if (k->parse(c, key, value, (uint8_t *) c->d + k->offset) < 0)
                        c->errors++;
                return 1;
        }

        warn_unknown(c, section, key);
        return 1;
}

/* inih's fgets-style reader, here to count lines: inih's handler gets no line
 * number in Debian's build, and a long line reaches us in several chunks. */
static char *read_chunk(char *buf, int size, void *userdata) {
        ParseContext *c = userdata;
        size_t n;

        if (!fgets(buf, size, c->f))
                return NULL;

        if (c->line_start) {
                c->line++;
                c->line_len = 0;
                c->line_too_long = false;
                c->line_has_inline_comment = false;
        }
        n = strlen(buf);
        c->line_len += n;
        c->line_start = n > 0 && buf[n - 1] == '\n';
        if (c->line_len > DEFINITION_LINE_MAX)
                c->line_too_long = true;
#if !HAVE_INIH_RUNTIME_SWITCHES
        /* Without runtime switches inih cuts lines at INI_MAX_LINE and values at " ;". */
        if (!c->line_start && n + 1 >= (size_t) size)
                c->line_too_long = true;
        if (strstr(buf, " ;") || strstr(buf, "\t;"))
                c->line_has_inline_comment = true;
#endif
        return buf;
}

static void inih_setup(void) {
#if HAVE_INIH_RUNTIME_SWITCHES
        /* Debian's libinih defaults to 200-byte lines and " ;" comments; a VM
         * definition holds SSH keys and kernel command lines. */
        ini_use_stack = false;
        ini_allow_realloc = true;
        ini_max_line = (int) DEFINITION_LINE_MAX + 2;
        ini_allow_inline_comments = false;
        ini_allow_multiline = false;
        ini_allow_no_value = false;
#endif
}

static int parse_file_into(VmDefinition *d, const char *path, FILE *f, bool defaults) {
        ParseContext c = {
                .d = d,
                .file = path,
                .f = f,
                .line_start = true,
                .defaults = defaults,
        };
        int r;

        inih_setup();
        r = ini_parse_stream(read_chunk, &c, handle_key, &c);
        strv_free(c.warned);
        if (r == -2)
                return log_oom();
        if (r > 0) {
                /* inih reports only the first line it could not parse. */
                log_syntax(path, (unsigned) r, LOG_ERR, EINVAL,
                           "Expected [Section] or Key=Value, rejecting this line.");
                c.errors++;
        }
        if (ferror(f))
                return log_error_errno(EIO, "Failed to read '%s': %m", path);
        return c.errors > 0 ? -EINVAL : 0;
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

static int derive(VmDefinition *d) {
        const char *state = cowvm_state_dir(), *runtime = cowvm_runtime_dir();

        if (d->base[0] == '/')
                d->base_dir = strdup(d->base);
        else
                d->base_dir = path_join3(state, "bases", d->base);
        d->state_dir = path_join3(state, "vms", d->name);
        d->runtime_dir = path_join(runtime, d->name);
        if (!d->base_dir || !d->state_dir || !d->runtime_dir)
                return -ENOMEM;

        d->root_dir = path_join(d->runtime_dir, "root");
        d->virtiofsd_socket = path_join(d->runtime_dir, "virtiofsd.sock");
        d->vmm_dir = path_join(d->runtime_dir, "vmm");
        /* An ephemeral VM's upper layer lives in its own tmpfs under /run,
         * never at the path of a persistent upper: flipping Ephemeral= on
         * cannot hide or discard an existing disk. */
        if (d->ephemeral) {
                d->upper_dir = path_join3(d->runtime_dir, "ephemeral", "upper");
                d->work_dir = path_join3(d->runtime_dir, "ephemeral", "work");
        } else {
                d->upper_dir = path_join(d->state_dir, "upper");
                d->work_dir = path_join(d->state_dir, "work");
        }
        if (!d->root_dir || !d->virtiofsd_socket || !d->vmm_dir || !d->upper_dir || !d->work_dir)
                return -ENOMEM;
        return 0;
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
        if (derive(d) < 0)
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
                if (parse_file_into(d, p, f, true) == -ENOMEM)
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
        r = parse_file_into(d, path, f, false);
        if (r < 0)
                return r;
        r = finalize(d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

int vm_definition_find(const char *name, char **ret_path) {
        for (char *const *dir = vm_definition_dirs(); *dir; dir++) {
                _cleanup_free_ char *file = NULL, *p = NULL;
                struct stat st;

                if (asprintf(&file, "%s%s", name, VM_DEFINITION_SUFFIX) < 0)
                        return -ENOMEM;
                p = path_join(*dir, file);
                if (!p)
                        return -ENOMEM;
                if (lstat(p, &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (path_is_masked(p, &st))
                        return -ERFKILL;
                *ret_path = TAKE_PTR(p);
                return 0;
        }
        return -ENOENT;
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
                return log_error_errno(ENOENT, "VM '%s' is masked (its definition is a symlink to /dev/null).", name);
        return log_error_errno(ENOENT, "VM '%s' is not defined: no definition at %s.", name, strempty(where));
}

int vm_definition_load(const char *name, VmDefinition **ret) {
        _cleanup_vm_definition_free_ VmDefinition *defaults = NULL, *d = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (!vm_name_is_valid(name))
                return log_error_errno(EINVAL,
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
                return log_error_errno(EINVAL, "The definition of VM '%s' in '%s' was rejected (see above).", name,
                                       path);
        if (r < 0)
                return r;

        r = vm_definition_resolve_boot_files(d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

/* The base's own kernel and initrd: /boot/vmlinuz, else Debian's /vmlinuz
 * symlink; likewise initrd.img. A relative Kernel=/Initrd= is inside the base.
 * Paths inside the base are resolved as the guest would see them (Debian's
 * /vmlinuz may be an absolute symlink meant for the guest's /boot, not the
 * host's) and handed on as the real host path they reach. */
static int resolve_in_base(int base_fd, const VmDefinition *d, const char *configured, const char *const *candidates,
                           char **ret) {
        if (configured && configured[0] == '/') {
                *ret = strdup(configured);
                return *ret ? 0 : -ENOMEM;
        }
        for (const char *const *c = configured ? (const char *const[]) { configured, NULL } : candidates; *c; c++) {
                _cleanup_close_ int fd = -EBADF;
                char proc[64], target[PATH_MAX];
                ssize_t n;

                if (base_fd < 0)
                        break;
                fd = safe_open_at(base_fd, *c, O_PATH, 0);
                if (fd < 0)
                        continue;
                (void) snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                n = readlink(proc, target, sizeof target - 1);
                if (n < 0)
                        continue;
                target[n] = '\0';
                *ret = strdup(target);
                return *ret ? 0 : -ENOMEM;
        }
        /* Not there: report the first candidate, so an error names it. */
        if (configured) {
                *ret = path_join(d->base_dir, configured);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = NULL;
        return 0;
}

int vm_definition_resolve_boot_files(VmDefinition *d) {
        static const char *const kernels[] = { "boot/vmlinuz", "vmlinuz", NULL };
        static const char *const initrds[] = { "boot/initrd.img", "initrd.img", NULL };
        int r;

        _cleanup_close_ int base_fd = -EBADF;

        /* A missing base is reported by whoever needs it; here it only
         * means there is nothing to resolve in. */
        (void) safe_fs_open_root(d->base_dir, &base_fd);

        r = resolve_in_base(base_fd, d, d->kernel, kernels, &d->kernel_path);
        if (r < 0)
                return log_oom();
        if (!d->kernel_path && !(d->kernel_path = path_join(d->base_dir, kernels[0])))
                return log_oom();
        r = resolve_in_base(base_fd, d, d->initrd, initrds, &d->initrd_path);
        if (r < 0)
                return log_oom();
        return 0;
}

int vm_definition_kernel_command_line(const VmDefinition *d, const char *console, char **ret) {
        char *s;

        if (asprintf(&s, "%s%s%sroot=" VIRTIOFS_ROOT_TAG " rootfstype=virtiofs rw%s%s", console ? "console=" : "",
                     strempty(console), console ? " " : "", d->kernel_command_line ? " " : "",
                     strempty(d->kernel_command_line)) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}
