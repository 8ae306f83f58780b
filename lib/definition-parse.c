/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The key table of a VM definition and its parsers: one entry per key, which
 * says where the value goes, how it is checked and whether an empty
 * assignment resets it to unset (so that a VM can undo cowvm.conf's value).
 * A rejected value is never stored.
 */

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "definition-parse.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "strv.h"
#include "vm-layout.h"
#include "vm-network.h"

/* Longest line accepted. An RSA-4096 authorized_keys line is ~750 bytes;
 * this leaves room for options in front of it. */
#define DEFINITION_LINE_MAX (64U * 1024U)

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
        char **warned;              /* "Section\nKey" of unknown keys already warned about */
        const struct KeyItem *item; /* the key being parsed */
} ParseContext;

typedef int (*KeyParser)(ParseContext *c, const char *key, const char *value, void *field);

/* What an empty assignment does: given to the parser (which mostly refuses
 * it), or a reset of the field to "unset", undoing an earlier assignment or
 * cowvm.conf's value. */
typedef enum KeyReset {
        KEY_RESET_NO,
        KEY_RESET_UNSIGNED, /* 0 */
        KEY_RESET_U64_ZERO, /* 0 */
        KEY_RESET_U64_MAX,  /* UINT64_MAX */
        KEY_RESET_STRING,   /* NULL */
        KEY_RESET_STRV,     /* NULL */
} KeyReset;

typedef struct KeyItem {
        const char *section;
        const char *key;
        KeyParser parse;
        size_t offset;
        bool vm_only; /* identifies one VM: meaningless in cowvm.conf */
        KeyReset reset;
        const void *spec; /* the parser's: a RangeSpec or a SizeSpec */
} KeyItem;

/* An unsigned from min to max; the message says "expected WHAT from MIN to MAX". */
typedef struct RangeSpec {
        const char *what;
        unsigned min, max;
} RangeSpec;

/* A size (parse_size()) of at least min bytes, a whole number of MiB. */
typedef struct SizeSpec {
        const char *example;     /* "512M or 2G" */
        const char *alternative; /* appended to the message: ", or infinity" */
        uint64_t min;
        bool infinity; /* "infinity" resets too: no limit */
} SizeSpec;

static void key_reset(const KeyItem *k, void *field) {
        switch (k->reset) {
        case KEY_RESET_UNSIGNED:
                *(unsigned *) field = 0;
                break;
        case KEY_RESET_U64_ZERO:
                *(uint64_t *) field = 0;
                break;
        case KEY_RESET_U64_MAX:
                *(uint64_t *) field = UINT64_MAX;
                break;
        case KEY_RESET_STRING:
                *(char **) field = mfree(*(char **) field);
                break;
        case KEY_RESET_STRV:
                *(char ***) field = strv_free(*(char ***) field);
                break;
        case KEY_RESET_NO:
                assert(!"a key without reset has no reset value");
        }
}

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

static int parse_unsigned_range(ParseContext *c, const char *key, const char *value, void *field) {
        const RangeSpec *s = c->item->spec;

        assert(s);
        if (parse_unsigned(value, s->min, s->max, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL, "Invalid %s=%s: expected %s from %u to %u.", key,
                                  value, s->what, s->min, s->max);
        return 0;
}

static int parse_size_field(ParseContext *c, const char *key, const char *value, void *field) {
        const SizeSpec *s = c->item->spec;
        uint64_t v;

        assert(s);
        if (s->infinity && streq(value, "infinity")) {
                key_reset(c->item, field);
                return 0;
        }
        if (parse_size(value, &v) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a size such as %s (suffixes K, M, G, T)%s.", key, value,
                                  s->example, strempty(s->alternative));
        if (v < s->min)
                return log_syntax(c->file, c->line, LOG_ERR, ERANGE,
                                  "Invalid %s=%s: below the minimum of %" PRIu64
                                  "M (a bare number is bytes; did you mean %sM?).",
                                  key, value, s->min / (1024 * 1024), value);
        *(uint64_t *) field = v;
        return 0;
}

static int parse_cpu_quota(ParseContext *c, const char *key, const char *value, void *field) {
        _cleanup_free_ char *n = NULL;
        size_t len = strlen(value);

        if (len > 0 && value[len - 1] == '%' && !(n = strndup(value, len - 1)))
                return log_oom();
        if (!n || parse_unsigned(n, 1, VM_CPU_QUOTA_MAX, field) < 0)
                return log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                                  "Invalid %s=%s: expected a percentage from 1%% to %u%% (100%% is one host CPU).",
                                  key, value, VM_CPU_QUOTA_MAX);
        return 0;
}

/* A reserve of the host's: a VM's own file must not be able to lower it. */
static int parse_min_free_space(ParseContext *c, const char *key, const char *value, void *field) {
        if (!c->defaults) {
                log_syntax(c->file, c->line, LOG_WARNING, 0, "%s= is a host-wide reserve and belongs in %s, ignoring.",
                           key, COWVM_CONF);
                return 0;
        }
        return parse_size_field(c, key, value, field);
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
        /* Repeated assignments append (an empty one resets, see the table). */
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

static const RangeSpec cpus_range = { "a number of CPUs", 1, VM_CPUS_MAX };
static const RangeSpec tasks_range = { "a number of tasks", 1, VM_TASKS_MAX_MAX };
static const RangeSpec weight_range = { "a weight", 1, VM_CPU_WEIGHT_MAX };
static const RangeSpec threads_range = { "a number of threads", 0, VIRTIOFS_THREAD_POOL_MAX };
static const SizeSpec memory_size = { .example = "512M or 2G", .min = VM_MEMORY_MIN };
static const SizeSpec overhead_size = { .example = "256M or 1G" };
static const SizeSpec disk_size = {
        .example = "10G", .alternative = ", or infinity", .min = VM_DISK_SIZE_MIN, .infinity = true
};
static const SizeSpec reserve_size = { .example = "512M or 2G", .alternative = ", or 0 for no reserve" };

#define KEY(s, k, p, f, ...)                                                                                          \
        { .section = s, .key = k, .parse = p, .offset = offsetof(VmDefinition, f), __VA_ARGS__ }
static const KeyItem key_table[] = {
        KEY("VM", "Base", parse_base, base),
        KEY("VM", "Hypervisor", parse_hypervisor, hypervisor),
        KEY("VM", "CPUs", parse_unsigned_range, cpus, .spec = &cpus_range),
        KEY("VM", "Memory", parse_size_field, memory, .spec = &memory_size),
        KEY("VM", "Kernel", parse_path_in_base, kernel),
        KEY("VM", "Initrd", parse_path_in_base, initrd),
        KEY("VM", "KernelCommandLine", parse_command_line, kernel_command_line, .reset = KEY_RESET_STRING),
        KEY("VM", "Autostart", parse_bool_field, autostart),
        KEY("VM", "Ephemeral", parse_bool_field, ephemeral),
        KEY("VM", "DiskSize", parse_size_field, disk_size, .reset = KEY_RESET_U64_ZERO, .spec = &disk_size),
        KEY("VM", "MinFreeSpace", parse_min_free_space, min_free_space, .spec = &reserve_size),
        KEY("VM", "ReadyOn", parse_ready_on, ready_on),
        KEY("VM", "TimeoutStartSec", parse_timeout, timeout_start_usec),
        KEY("VM", "TimeoutStopSec", parse_timeout, timeout_stop_usec),
        /* The slice's keys: empty means the built-in default, undoing cowvm.conf's. */
        KEY("VM", "MemoryOverhead", parse_size_field, memory_overhead, .reset = KEY_RESET_U64_MAX,
            .spec = &overhead_size),
        KEY("VM", "TasksMax", parse_unsigned_range, tasks_max, .reset = KEY_RESET_UNSIGNED, .spec = &tasks_range),
        KEY("VM", "CPUWeight", parse_unsigned_range, cpu_weight, .reset = KEY_RESET_UNSIGNED, .spec = &weight_range),
        KEY("VM", "CPUQuota", parse_cpu_quota, cpu_quota_percent, .reset = KEY_RESET_UNSIGNED),
        KEY("Guest", "Hostname", parse_hostname, hostname, .vm_only = true),
        KEY("Guest", "User", parse_user, user),
        KEY("Guest", "PasswordHash", parse_password_hash, password_hash),
        KEY("Guest", "SSHAuthorizedKey", parse_ssh_key, ssh_authorized_keys, .reset = KEY_RESET_STRV),
        KEY("Network", "Bridge", parse_ifname, bridge),
        KEY("Network", "MAC", parse_mac, mac, .vm_only = true),
        KEY("Network", "Address", parse_address, addresses, .vm_only = true, .reset = KEY_RESET_STRV),
        KEY("Network", "DHCP", parse_bool_field, dhcp),
        KEY("Network", "Gateway", parse_gateway, gateway),
        KEY("Network", "DNS", parse_dns, dns, .reset = KEY_RESET_STRV),
        KEY("Network", "Forward", parse_forward, forwards, .vm_only = true, .reset = KEY_RESET_STRV),
        KEY("Virtiofs", "Cache", parse_cache, virtiofs_cache),
        KEY("Virtiofs", "ThreadPoolSize", parse_unsigned_range, virtiofs_thread_pool_size, .spec = &threads_range),
};
#undef KEY

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

static const KeyItem *key_lookup(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(key_table); i++)
                if (streq(key_table[i].section, section) && streq(key_table[i].key, key))
                        return key_table + i;
        return NULL;
}

/* What the reader saw of the line that inih cannot be trusted with. */
static bool line_refused(ParseContext *c, const char *key) {
        if (c->line_too_long)
                log_syntax(c->file, c->line, LOG_ERR, E2BIG, "Line is longer than %u bytes, rejecting.",
                           DEFINITION_LINE_MAX);
        else if (c->line_has_inline_comment)
                log_syntax(c->file, c->line, LOG_ERR, EINVAL,
                           "Value of %s= contains ' ;', which this build's libinih takes for a comment; rejecting.",
                           key);
        else
                return false;
        c->errors++;
        return true;
}

static int handle_key(void *userdata, const char *section, const char *key, const char *value) {
        ParseContext *c = userdata;
        const KeyItem *k;
        void *field;

        if (line_refused(c, key))
                return 1;

        k = key_lookup(section, key);
        if (!k) {
                warn_unknown(c, section, key);
                return 1;
        }
        if (c->defaults && k->vm_only) {
                log_syntax(c->file, c->line, LOG_WARNING, 0,
                           "%s= identifies a single VM and belongs in its NAME.vm file, ignoring.", key);
                return 1;
        }

        field = (uint8_t *) c->d + k->offset;
        if (k->reset != KEY_RESET_NO && isempty(value)) {
                key_reset(k, field);
                return 1;
        }
        c->item = k;
        if (k->parse(c, key, value, field) < 0)
                c->errors++;
        c->item = NULL;
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

int definition_parse_file(VmDefinition *d, const char *path, FILE *f, bool defaults) {
        ParseContext c = {
                .d = d,
                .file = path,
                .f = f,
                .line_start = true,
                .defaults = defaults,
        };
        int r;

        assert(d && path && f);
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
                return log_error_errno(SYNTHETIC_ERRNO(EIO), "Failed to read '%s': I/O error.", path);
        return c.errors > 0 ? -EINVAL : 0;
}
