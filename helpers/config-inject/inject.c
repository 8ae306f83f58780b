/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"
#include "vm-identity.h"

#define ROOT_FSTAB_LINE VIRTIOFS_ROOT_TAG " / virtiofs defaults 0 0"
#define NETPLAN_FILE "/etc/netplan/90-cowvm.yaml"
#define NETWORKD_FILE "/etc/systemd/network/90-cowvm.network"
#define SYSTEMD_UNIT_DIR "/etc/systemd/system"
#define READY_UNIT "cowvm-ready.service"
#define KEYGEN_UNIT "cowvm-ssh-keygen.service"
#define HVC0_GETTY SYSTEMD_UNIT_DIR "/serial-getty@hvc0.service"
#define MULTI_USER_WANTS SYSTEMD_UNIT_DIR "/multi-user.target.wants/"
#define CLOUD_INIT_DISABLED "/etc/cloud/cloud-init.disabled"

static bool strv_empty(char *const *l) {
        return !l || !*l;
}

/* ---- logging and file access, all relative to the root fd --------------- */

static int log_fs_error(const InjectContext *c, int r, const char *verb, const char *path) {
        const char *why = safe_fs_error_explain(r);

        if (why)
                return log_error_errno(r, "Failed to %s '%s' in the VM root %s: %s.", verb, path, c->root_path, why);
        return log_error_errno(r, "Failed to %s '%s' in the VM root %s: %m", verb, path, c->root_path);
}

/* Reads a text file of the guest. Returns 1 and the contents, 0 (and NULL)
 * if it does not exist and `missing_ok`, or logs and returns < 0. */
static int read_text(const InjectContext *c, const char *path, size_t max, bool missing_ok, char **ret,
                     struct stat *ret_st) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = safe_read_file_at(c->root_fd, path, max, &data, &size, ret_st);
        if (r == -ENOENT && missing_ok) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return log_fs_error(c, r, "read", path);
        /* Everything below works on C strings: a NUL would silently cut the
         * file short, and we would write the shortened file back. */
        if (memchr(data, '\0', size))
                return log_error_errno(EBADMSG, "Refusing to edit '%s' in the VM root %s: it contains a NUL byte.",
                                       path, c->root_path);
        *ret = TAKE_PTR(data);
        return 1;
}

static int make_parent(const InjectContext *c, const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;
        int r;

        if (!dir)
                return log_oom();
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        r = safe_mkdir_p_at(c->root_fd, dir, 0755, NULL);
        if (r < 0)
                return log_fs_error(c, r, "create the directory", dir);
        return 0;
}

static void warn_if_symlink(const InjectContext *c, const char *path) {
        struct stat st;

        if (safe_lstat_at(c->root_fd, path, &st) >= 0 && S_ISLNK(st.st_mode))
                log_warning(
                        "'%s' in the VM root %s is a symbolic link; replacing the link itself with a regular file.",
                        path, c->root_path);
}

static int write_text(const InjectContext *c, const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid,
                      SafeWriteFlags flags) {
        int r;

        r = make_parent(c, path);
        if (r < 0)
                return r;
        warn_if_symlink(c, path);
        r = safe_write_file_atomic_at(c->root_fd, path, content, strlen(content), mode, uid, gid, flags);
        if (r < 0)
                return log_fs_error(c, r, "write", path);
        if (r > 0)
                log_debug("Wrote '%s' in %s.", path, c->root_path);
        return 0;
}

/* Writes back a guest file that the next start reads again with limit
 * `max`. An edit can make a file longer (fstab's disabled lines): one that
 * no longer fits is not written, or the VM could never start again. A guest
 * file we only tidy up (`needed` false) is then left as the guest made it;
 * one the definition needs changed (a password, keys) fails the start. */
static int write_rewritten(const InjectContext *c, const char *path, const char *content, size_t max, bool needed,
                           mode_t mode, uid_t uid, gid_t gid, SafeWriteFlags flags) {
        size_t n = strlen(content);

        if (n > max) {
                if (!needed) {
                        log_warning("Leaving '%s' in the VM root %s as it is: edited it would be %zu bytes, more "
                                    "than the %zu that config-inject reads back.",
                                    path, c->root_path, n, max);
                        return 0;
                }
                return log_error_errno(EFBIG,
                                       "Cannot update '%s' in the VM root %s: edited it would be %zu bytes, more than "
                                       "the %zu that config-inject reads back. Shrink the file in the VM's upper "
                                       "layer.",
                                       path, c->root_path, n, max);
        }
        return write_text(c, path, content, mode, uid, gid, flags);
}

/* A file only cowvm writes: root-owned, mode kept if the guest changed it. */
static int write_managed(const InjectContext *c, const char *path, const char *content, mode_t mode) {
        return write_text(c, path, content, mode, c->owner_uid, c->owner_gid, SAFE_WRITE_KEEP_ATTRS);
}

static int remove_file(const InjectContext *c, const char *path) {
        int r = safe_unlink_at(c->root_fd, path);

        if (r < 0)
                return log_fs_error(c, r, "remove", path);
        if (r > 0)
                log_info("Removed '%s' in %s: the definition no longer asks for it.", path, c->root_path);
        return 0;
}

static int write_symlink(const InjectContext *c, const char *target, const char *path) {
        int r;

        r = make_parent(c, path);
        if (r < 0)
                return r;
        r = safe_symlink_atomic_at(c->root_fd, target, path);
        if (r < 0)
                return log_fs_error(c, r, "create the symlink", path);
        return 0;
}

static int exists(const InjectContext *c, const char *path) {
        int r = safe_exists_at(c->root_fd, path);

        /* A lookup that failed for another reason (a symlink loop planted
         * there, say) is treated as absent; the writer that needs the file
         * reports it. */
        if (r < 0)
                log_debug_errno(r, "Failed to look up '%s' in %s, assuming it is absent: %m", path, c->root_path);
        return r > 0;
}

static bool guest_has_systemd(const InjectContext *c) {
        return exists(c, "/lib/systemd/systemd") || exists(c, "/usr/lib/systemd/systemd");
}

static int managed_header(const InjectContext *c, char **ret) {
        if (asprintf(ret,
                     "# Written by cowvm's config-inject from %s at every start of vm@%s.service;\n"
                     "# changes made here are lost. Edit the definition instead.\n",
                     strempty(c->def->path), c->def->name) < 0)
                return log_oom();
        return 0;
}

/* Lines of a text buffer: `line` without its '\n', `has_nl` whether it had one. */
#define FOREACH_LINE(p, line, len, has_nl)                                                                            \
        for (const char *p = (in ?: ""), *line;                                                                       \
             *p && (line = p, len = strcspn(p, "\n"), has_nl = p[len] == '\n', p += len + (has_nl ? 1 : 0), true);)

static int memstream_finish(FILE *f, char **buf, char **ret) {
        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                free(*buf);
                *buf = NULL;
                return -ENOMEM;
        }
        fclose(f);
        *ret = TAKE_PTR(*buf);
        return 0;
}

/* ---- /etc/fstab ----------------------------------------------------------- */

static bool fstab_source_is_block_device(const char *spec, size_t n) {
        static const char *const prefixes[] = { "LABEL=", "UUID=", "PARTUUID=", "PARTLABEL=", "ID=", "/dev/" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (n >= strlen(prefixes[i]) && strncmp(spec, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return false;
}

int fstab_rewrite(const char *in, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, len;
        bool has_nl, root_done = false, last_nl = true;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;

        FOREACH_LINE(p, line, len, has_nl) {
                const char *s = line, *end = line + len, *spec, *file;
                size_t spec_len, file_len;

                last_nl = has_nl;
                s += strspn(s, " \t");
                if (s >= end || *s == '#') {
                        fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
                        continue;
                }
                spec = s;
                spec_len = strcspn(spec, " \t\n");
                file = spec + spec_len;
                file += strspn(file, " \t");
                file_len = file < end ? strcspn(file, " \t\n") : 0;

                if (file_len == 1 && file[0] == '/') {
                        /* The root is the virtio-fs share, whatever the image said. */
                        if (root_done)
                                fprintf(f, COWVM_FSTAB_DISABLED "%.*s\n", (int) len, line);
                        else
                                fputs(ROOT_FSTAB_LINE "\n", f);
                        root_done = true;
                        last_nl = true;
                } else if (fstab_source_is_block_device(spec, spec_len)) {
                        /* A disk the VM does not have: systemd would wait 90 s for it. */
                        fprintf(f, COWVM_FSTAB_DISABLED "%.*s\n", (int) len, line);
                        last_nl = true;
                } else
                        fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
        }
        if (!root_done)
                fprintf(f, "%s" ROOT_FSTAB_LINE "\n", last_nl ? "" : "\n");
        return memstream_finish(f, &buf, ret);
}

int inject_fstab(const InjectContext *c) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        r = read_text(c, "/etc/fstab", INJECT_READ_MAX, true, &in, NULL);
        if (r < 0)
                return r;
        if (fstab_rewrite(in, &out) < 0)
                return log_oom();
        return write_rewritten(c, "/etc/fstab", out, INJECT_READ_MAX, false, 0644, c->owner_uid, c->owner_gid,
                               SAFE_WRITE_KEEP_ATTRS);
}

/* ---- /etc/hostname, /etc/hosts, /etc/machine-id --------------------------- */

int inject_hostname(const InjectContext *c) {
        _cleanup_free_ char *s = NULL;

        if (asprintf(&s, "%s\n", c->def->hostname) < 0)
                return log_oom();
        return write_managed(c, "/etc/hostname", s, 0644);
}

int hosts_rewrite(const char *in, const char *hostname, char **ret) {
        _cleanup_free_ char *buf = NULL, *ours = NULL;
        size_t size = 0, len;
        bool has_nl, done = false, last_nl = true;
        const char *dot = strchr(hostname, '.');
        FILE *f;

        /* Debian's convention: the FQDN first, then the short name. */
        if (dot ? asprintf(&ours, "127.0.1.1\t%s %.*s\n", hostname, (int) (dot - hostname), hostname) < 0
                : asprintf(&ours, "127.0.1.1\t%s\n", hostname) < 0)
                return -ENOMEM;

        /* No /etc/hosts at all: Debian's, with our line. */
        if (!in)
                in = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n";
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        FOREACH_LINE(p, line, len, has_nl) {
                const char *s = line + strspn(line, " \t");
                size_t n = strcspn(s, " \t\n#");
                bool is_ours = n == 9 && strncmp(s, "127.0.1.1", 9) == 0;
                bool is_loopback = n == 9 && strncmp(s, "127.0.0.1", 9) == 0;

                if (is_ours) {
                        /* Our line replaces the first 127.0.1.1 line; a second
                         * one would make the name ambiguous. */
                        if (!done)
                                fputs(ours, f);
                        done = true;
                        last_nl = true;
                        continue;
                }
                fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
                last_nl = has_nl;
                if (is_loopback && !done && has_nl) {
                        fputs(ours, f);
                        done = true;
                }
        }
        if (!done)
                fprintf(f, "%s%s", last_nl ? "" : "\n", ours);
        return memstream_finish(f, &buf, ret);
}

int inject_hosts(const InjectContext *c) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        r = read_text(c, "/etc/hosts", INJECT_READ_MAX, true, &in, NULL);
        if (r < 0)
                return r;
        if (hosts_rewrite(in, c->def->hostname, &out) < 0)
                return log_oom();
        return write_rewritten(c, "/etc/hosts", out, INJECT_READ_MAX, false, 0644, c->owner_uid, c->owner_gid,
                               SAFE_WRITE_KEEP_ATTRS);
}

int inject_machine_id(const InjectContext *c) {
        char id[33], s[34];

        vm_machine_id(c->def->name, id);
        snprintf(s, sizeof(s), "%s\n", id);
        return write_managed(c, "/etc/machine-id", s, 0444);
}

/* ---- network ------------------------------------------------------------- */

static void format_mac(const struct ether_addr *a, char ret[static 18]) {
        const uint8_t *o = a->ether_addr_octet;

        snprintf(ret, 18, "%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], o[3], o[4], o[5]);
}

static int netplan_config(const InjectContext *c, char **ret) {
        const VmDefinition *d = c->def;
        _cleanup_free_ char *buf = NULL, *header = NULL;
        size_t size = 0;
        char mac[18];
        FILE *f;
        int r;

        r = managed_header(c, &header);
        if (r < 0)
                return r;
        format_mac(&d->mac, mac);
        f = open_memstream(&buf, &size);
        if (!f)
                return log_oom();

        /* Matched by MAC, never by name: the name depends on the guest's
         * kernel and udev, the MAC is the one cowvm gives the NIC. */
        fprintf(f,
                "%s"
                "network:\n"
                "  version: 2\n"
                "  ethernets:\n"
                "    cowvm:\n"
                "      match:\n"
                "        macaddress: \"%s\"\n"
                "      dhcp4: %s\n"
                "      dhcp6: %s\n",
                header, mac, d->dhcp ? "true" : "false", d->dhcp ? "true" : "false");
        if (!strv_empty(d->addresses)) {
                fputs("      addresses:\n", f);
                STRV_FOREACH (a, d->addresses)
                        fprintf(f, "        - \"%s\"\n", *a);
        }
        if (d->gateway)
                fprintf(f,
                        "      routes:\n"
                        "        - to: default\n"
                        "          via: \"%s\"\n",
                        d->gateway);
        if (!strv_empty(d->dns)) {
                fputs("      nameservers:\n        addresses:\n", f);
                STRV_FOREACH (a, d->dns)
                        fprintf(f, "          - \"%s\"\n", *a);
        }
        /* As ClientIdentifier=mac in networkd_config(). */
        if (d->dhcp)
                fputs("      dhcp-identifier: mac\n", f);
        if (memstream_finish(f, &buf, ret) < 0)
                return log_oom();
        return 0;
}

static int networkd_config(const InjectContext *c, char **ret) {
        const VmDefinition *d = c->def;
        _cleanup_free_ char *buf = NULL, *header = NULL;
        size_t size = 0;
        char mac[18];
        FILE *f;
        int r;

        r = managed_header(c, &header);
        if (r < 0)
                return r;
        format_mac(&d->mac, mac);
        f = open_memstream(&buf, &size);
        if (!f)
                return log_oom();

        fprintf(f, "%s[Match]\nMACAddress=%s\n\n[Network]\n", header, mac);
        if (d->dhcp)
                fputs("DHCP=yes\n", f);
        STRV_FOREACH (a, d->addresses)
                fprintf(f, "Address=%s\n", *a);
        if (d->gateway)
                fprintf(f, "Gateway=%s\n", d->gateway);
        STRV_FOREACH (a, d->dns)
                fprintf(f, "DNS=%s\n", *a);
        /* The default network's static leases are keyed by the MAC
         * (systemd-networkd's DHCP server matches client id 01:MAC), and
         * the MAC is what stays the same for a VM; networkd's own default,
         * a DUID from the machine-id, would not match. */
        if (d->dhcp)
                fputs("\n[DHCPv4]\nClientIdentifier=mac\n", f);
        if (memstream_finish(f, &buf, ret) < 0)
                return log_oom();
        return 0;
}

int inject_network(const InjectContext *c) {
        const VmDefinition *d = c->def;
        _cleanup_free_ char *config = NULL;
        bool netplan;
        int r;

        if (strv_empty(d->addresses) && !d->dhcp) {
                /* No [Network] addressing: nothing of ours may linger from
                 * an older definition. The guest's own config is untouched. */
                r = remove_file(c, NETPLAN_FILE);
                return remove_file(c, NETWORKD_FILE) < 0 ? -EIO : r;
        }

        netplan = exists(c, "/etc/netplan") || exists(c, "/usr/sbin/netplan");
        if (netplan) {
                r = netplan_config(c, &config);
                if (r < 0)
                        return r;
                /* netplan refuses configs others can read (they may hold secrets). */
                r = write_text(c, NETPLAN_FILE, config, 0600, c->owner_uid, c->owner_gid, 0);
                if (r < 0)
                        return r;
                return remove_file(c, NETWORKD_FILE);
        }

        r = networkd_config(c, &config);
        if (r < 0)
                return r;
        r = write_text(c, NETWORKD_FILE, config, 0644, c->owner_uid, c->owner_gid, 0);
        if (r < 0)
                return r;
        r = remove_file(c, NETPLAN_FILE);
        if (r < 0)
                return r;

        /* Enable networkd as `systemctl enable` would: the link target is a
         * path in the guest, written as is and never resolved on the host. */
        const char *unit = NULL;
        if (exists(c, "/lib/systemd/system/systemd-networkd.service"))
                unit = "/lib/systemd/system/systemd-networkd.service";
        else if (exists(c, "/usr/lib/systemd/system/systemd-networkd.service"))
                unit = "/usr/lib/systemd/system/systemd-networkd.service";
        if (!unit) {
                log_warning("The VM root %s has no systemd-networkd; '%s' will have no effect in the guest.",
                            c->root_path, NETWORKD_FILE);
                return 0;
        }
        return write_symlink(c, unit, MULTI_USER_WANTS "systemd-networkd.service");
}

/* ---- users: /etc/shadow, /etc/passwd, authorized_keys --------------------- */

int shadow_rewrite(const char *in, const char *user, const char *hash, char **ret) {
        size_t ulen = strlen(user), len;
        bool has_nl;

        FOREACH_LINE(p, line, len, has_nl) {
                const char *field2, *field2_end;
                char *s;

                if (len <= ulen || strncmp(line, user, ulen) != 0 || line[ulen] != ':')
                        continue;
                field2 = line + ulen + 1;
                field2_end = memchr(field2, ':', (size_t) (line + len - field2));
                if (!field2_end)
                        return -EUCLEAN;
                /* Everything but field 2 of this one line stays byte for byte. */
                if (asprintf(&s, "%.*s%s%s", (int) (field2 - in), in, hash, field2_end) < 0)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        return -ESRCH;
}

int inject_password(const InjectContext *c) {
        const VmDefinition *d = c->def;
        _cleanup_free_ char *in = NULL, *out = NULL;
        int r;

        if (!d->password_hash)
                return 0;
        /* The parser accepts only crypt(3) alphabets; a ':' or newline here
         * would corrupt the file, so check again where it matters. */
        if (strpbrk(d->password_hash, ":\n") || string_has_cc(d->password_hash))
                return log_error_errno(EINVAL, "PasswordHash= of VM '%s' contains ':' or a control character.",
                                       d->name);

        r = read_text(c, "/etc/shadow", INJECT_READ_MAX, false, &in, NULL);
        if (r < 0)
                return r;
        r = shadow_rewrite(in, d->user, d->password_hash, &out);
        if (r == -ESRCH)
                return log_error_errno(r,
                                       "User '%s' (User= of VM '%s') has no line in '/etc/shadow' in the VM root %s; "
                                       "cowvm sets passwords of existing users only.",
                                       d->user, d->name, c->root_path);
        if (r == -EUCLEAN)
                return log_error_errno(r, "The line of user '%s' in '/etc/shadow' in the VM root %s is malformed.",
                                       d->user, c->root_path);
        if (r < 0)
                return log_oom();
        /* Keep the guest's mode and group (Debian: 0640 root:shadow). */
        return write_rewritten(c, "/etc/shadow", out, INJECT_READ_MAX, true, 0640, c->owner_uid, c->owner_gid,
                               SAFE_WRITE_KEEP_ATTRS);
}

void passwd_entry_done(PasswdEntry *e) {
        free(e->home);
        *e = (PasswdEntry) {};
}

int passwd_lookup(const char *in, const char *user, PasswdEntry *ret) {
        size_t ulen = strlen(user), len;
        bool has_nl;

        FOREACH_LINE(p, line, len, has_nl) {
                const char *f[7];
                size_t n[7], k = 0;
                char uid_s[16], gid_s[16];
                unsigned uid, gid;
                _cleanup_free_ char *home = NULL;

                if (len <= ulen || strncmp(line, user, ulen) != 0 || line[ulen] != ':')
                        continue;

                /* name:password:uid:gid:gecos:home:shell, exactly seven fields. */
                for (const char *s = line, *end = line + len; k < 7; k++) {
                        const char *colon = memchr(s, ':', (size_t) (end - s));

                        f[k] = s;
                        n[k] = colon ? (size_t) (colon - s) : (size_t) (end - s);
                        if (!colon) {
                                k++;
                                break;
                        }
                        s = colon + 1;
                }
                if (k != 7 || f[6] + n[6] != line + len)
                        return -EUCLEAN;
                if (n[2] == 0 || n[2] >= sizeof(uid_s) || n[3] == 0 || n[3] >= sizeof(gid_s))
                        return -EUCLEAN;
                snprintf(uid_s, sizeof(uid_s), "%.*s", (int) n[2], f[2]);
                snprintf(gid_s, sizeof(gid_s), "%.*s", (int) n[3], f[3]);
                /* (uid_t) -1 means "unchanged" to chown(): never a real owner. */
                if (parse_unsigned(uid_s, 0, 0xfffffffeU, &uid) < 0 || parse_unsigned(gid_s, 0, 0xfffffffeU, &gid) < 0)
                        return -EUCLEAN;
                home = strndup(f[5], n[5]);
                if (!home)
                        return -ENOMEM;
                if (!path_is_normalized(home) || string_has_cc(home))
                        return -EUCLEAN;
                *ret = (PasswdEntry) { .uid = uid, .gid = gid, .home = TAKE_PTR(home) };
                return 0;
        }
        return -ESRCH;
}

int authorized_keys_rewrite(const char *in, char *const *keys, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, len;
        bool has_nl, in_block = false, last_nl = true;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;

        /* Drop our old block, keep every other line as it was. A BEGIN
         * without END (someone cut the file) is ours up to the end. */
        FOREACH_LINE(p, line, len, has_nl) {
                bool begin = len == strlen(COWVM_KEYS_BEGIN) && strncmp(line, COWVM_KEYS_BEGIN, len) == 0;
                bool end = len == strlen(COWVM_KEYS_END) && strncmp(line, COWVM_KEYS_END, len) == 0;

                if (begin) {
                        in_block = true;
                        continue;
                }
                if (in_block) {
                        if (end)
                                in_block = false;
                        continue;
                }
                fprintf(f, "%.*s%s", (int) len, line, has_nl ? "\n" : "");
                last_nl = has_nl;
        }
        if (!strv_empty(keys)) {
                fprintf(f, "%s" COWVM_KEYS_BEGIN "\n", last_nl ? "" : "\n");
                STRV_FOREACH (k, keys)
                        fprintf(f, "%s\n", *k);
                fputs(COWVM_KEYS_END "\n", f);
        }
        return memstream_finish(f, &buf, ret);
}

/* Opens (creating if needed) the user's ~/.ssh, owned by the user, 0700.
 * Returns the guest path of the directory. */
static int prepare_ssh_dir(const InjectContext *c, const PasswdEntry *pw, char **ret_path) {
        _cleanup_close_ int home_fd = -EBADF, ssh_fd = -EBADF;
        _cleanup_free_ char *ssh = path_join(pw->home, ".ssh");
        struct stat st;
        int r;

        if (!ssh)
                return log_oom();

        /* Missing parents of the home are 0755 like /home; a home we had to
         * create is the user's, 0700 (Debian's adduser default). */
        r = safe_mkdir_p_at(c->root_fd, pw->home, 0755, &home_fd);
        if (r < 0)
                return log_fs_error(c, r, "create the home directory", pw->home);
        if (r > 0 && (fchown(home_fd, pw->uid, pw->gid) < 0 || fchmod(home_fd, 0700) < 0))
                return log_error_errno(errno, "Failed to set up the new home '%s' in the VM root %s: %m", pw->home,
                                       c->root_path);

        /* ~/.ssh itself must not be a symlink: we chown it below. */
        ssh_fd = safe_open_at(c->root_fd, ssh, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (ssh_fd == -ENOENT) {
                if (mkdirat(home_fd, ".ssh", 0700) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create '%s' in the VM root %s: %m", ssh,
                                               c->root_path);
                ssh_fd = safe_open_at(c->root_fd, ssh, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        }
        if (ssh_fd == -ELOOP || ssh_fd == -ENOTDIR) {
                /* O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: tell which. */
                if (safe_lstat_at(c->root_fd, ssh, &st) >= 0 && S_ISLNK(st.st_mode))
                        return log_error_errno(ELOOP,
                                               "Refusing '%s' in the VM root %s: it is a symbolic link, and "
                                               "cowvm does not follow links to a directory it must chown.",
                                               ssh, c->root_path);
        }
        if (ssh_fd < 0)
                return log_fs_error(c, ssh_fd, "open", ssh);
        if (fstat(ssh_fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat '%s' in the VM root %s: %m", ssh, c->root_path);
        /* sshd's StrictModes wants it owned by the user and not writable by others. */
        if ((st.st_uid != pw->uid || st.st_gid != pw->gid) && fchown(ssh_fd, pw->uid, pw->gid) < 0)
                return log_error_errno(errno, "Failed to chown '%s' in the VM root %s: %m", ssh, c->root_path);
        if ((st.st_mode & 07777) != 0700 && fchmod(ssh_fd, 0700) < 0)
                return log_error_errno(errno, "Failed to chmod '%s' in the VM root %s: %m", ssh, c->root_path);

        *ret_path = TAKE_PTR(ssh);
        return 0;
}

static int load_passwd_entry(const InjectContext *c, PasswdEntry *ret) {
        _cleanup_free_ char *passwd = NULL;
        int r;

        r = read_text(c, "/etc/passwd", INJECT_READ_MAX, false, &passwd, NULL);
        if (r < 0)
                return r;
        r = passwd_lookup(passwd, c->def->user, ret);
        if (r == -ESRCH)
                return log_error_errno(
                        r,
                        "User '%s' (User= of VM '%s') does not exist in '/etc/passwd' in the VM root %s; "
                        "cowvm does not create users.",
                        c->def->user, c->def->name, c->root_path);
        if (r == -EUCLEAN)
                return log_error_errno(r,
                                       "The line of user '%s' in '/etc/passwd' in the VM root %s is malformed, or its "
                                       "home directory is not a normalized absolute path; refusing to use it.",
                                       c->def->user, c->root_path);
        return r < 0 ? log_oom() : 0;
}

int inject_authorized_keys(const InjectContext *c) {
        const VmDefinition *d = c->def;
        _cleanup_(passwd_entry_done) PasswdEntry pw = {};
        _cleanup_free_ char *ssh = NULL, *file = NULL, *in = NULL, *out = NULL;
        bool want = !strv_empty(d->ssh_authorized_keys);
        struct stat st;
        int r;

        if (!want) {
                /* Only clean up after an earlier definition, never fail for it. */
                _cleanup_free_ char *passwd = NULL;

                if (safe_read_file_at(c->root_fd, "/etc/passwd", INJECT_READ_MAX, &passwd, &(size_t) { 0 }, NULL) <
                            0 ||
                    passwd_lookup(passwd, d->user, &pw) < 0)
                        return 0;
                file = path_join3(pw.home, ".ssh", "authorized_keys");
                if (!file)
                        return log_oom();
                r = read_text(c, file, INJECT_KEYS_READ_MAX, true, &in, &st);
                if (r <= 0 || !strstr(in, COWVM_KEYS_BEGIN))
                        return r < 0 ? r : 0;
                if (authorized_keys_rewrite(in, NULL, &out) < 0)
                        return log_oom();
                return write_rewritten(c, file, out, INJECT_KEYS_READ_MAX, true, 0600, pw.uid, pw.gid,
                                       SAFE_WRITE_KEEP_ATTRS);
        }

        r = load_passwd_entry(c, &pw);
        if (r < 0)
                return r;
        r = prepare_ssh_dir(c, &pw, &ssh);
        if (r < 0)
                return r;
        file = path_join(ssh, "authorized_keys");
        if (!file)
                return log_oom();
        r = read_text(c, file, INJECT_KEYS_READ_MAX, true, &in, NULL);
        if (r < 0)
                return r;
        if (authorized_keys_rewrite(in, d->ssh_authorized_keys, &out) < 0)
                return log_oom();
        return write_rewritten(c, file, out, INJECT_KEYS_READ_MAX, true, 0600, pw.uid, pw.gid, 0);
}

/* ---- SSH host keys ------------------------------------------------------ */

static const char keygen_unit[] = "[Unit]\n"
                                  "Description=Generate this VM's own SSH host keys\n"
                                  "Documentation=man:config-inject(8)\n"
                                  "# cowvm removes host keys that came with the base: VMs must not share them.\n"
                                  "ConditionPathExists=|!/etc/ssh/ssh_host_ed25519_key\n"
                                  "ConditionPathExists=|!/etc/ssh/ssh_host_ecdsa_key\n"
                                  "Before=ssh.service ssh.socket sshd.service\n"
                                  "\n"
                                  "# Ed25519 and ECDSA only: an RSA key takes minutes under emulation and would\n"
                                  "# hold up the boot (bases made by cowvm-mkbase point sshd at these two).\n"
                                  "[Service]\n"
                                  "Type=oneshot\n"
                                  "ExecStart=/bin/sh -c 'for t in ed25519 ecdsa; do f=/etc/ssh/ssh_host_$${t}_key; "
                                  "[ -e $$f ] || /usr/bin/ssh-keygen -q -t $$t -N \\\"\\\" -f $$f || exit 1; done'\n"
                                  "\n"
                                  "[Install]\n"
                                  "WantedBy=multi-user.target\n";

/* Removes each /etc/ssh/ssh_host_* file that is byte-identical to the one
 * in the base: in the merged view this leaves a whiteout in the upper layer,
 * so the guest sees no key and generates its own. A key the guest made
 * (different from the base's) is kept. */
static int remove_base_host_keys(const InjectContext *c) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_(closedirp) DIR *dir = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        int r, ret = 0;

        dir_fd = safe_open_at(c->root_fd, "/etc/ssh", O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd == -ENOENT)
                return 0;
        if (dir_fd < 0)
                return log_fs_error(c, dir_fd, "open", "/etc/ssh");
        dir = fdopendir(dir_fd);
        if (!dir)
                return log_oom();
        TAKE_FD(dir_fd);

        while ((de = readdir(dir)))
                if (strncmp(de->d_name, "ssh_host_", 9) == 0 && strv_extend(&names, de->d_name) < 0)
                        return log_oom();

        STRV_FOREACH (n, names) {
                _cleanup_free_ char *path = path_join("/etc/ssh", *n), *ours = NULL, *base = NULL;
                size_t ours_size, base_size;

                if (!path)
                        return log_oom();
                if (c->base_fd < 0) {
                        log_warning("Cannot tell whether '%s' in the VM root %s came with the base (the base is "
                                    "not available); leaving it.",
                                    path, c->root_path);
                        continue;
                }
                r = safe_read_file_at(c->base_fd, path, 64 * 1024, &base, &base_size, NULL);
                if (r < 0)
                        continue; /* not in the base: the guest's own */
                r = safe_read_file_at(c->root_fd, path, 64 * 1024, &ours, &ours_size, NULL);
                if (r < 0) {
                        log_warning("Cannot read '%s' in the VM root %s, leaving it: %s", path, c->root_path,
                                    safe_fs_error_explain(r) ?: strerror(-r));
                        continue;
                }
                if (ours_size != base_size || memcmp(ours, base, ours_size) != 0)
                        continue;
                r = safe_unlink_at(c->root_fd, path);
                if (r < 0)
                        ret = log_fs_error(c, r, "remove", path);
                else
                        log_info("Removed '%s' in %s: it came with the base, and VMs must not share host keys.", path,
                                 c->root_path);
        }
        return ret;
}

int inject_ssh_host_keys(const InjectContext *c) {
        _cleanup_free_ char *header = NULL, *unit = NULL;
        int r;

        if (!exists(c, "/usr/sbin/sshd") && !exists(c, "/etc/ssh/sshd_config")) {
                r = remove_file(c, MULTI_USER_WANTS KEYGEN_UNIT);
                return remove_file(c, SYSTEMD_UNIT_DIR "/" KEYGEN_UNIT) < 0 ? -EIO : r;
        }

        r = remove_base_host_keys(c);
        if (r < 0)
                return r;

        if (!guest_has_systemd(c)) {
                log_notice("The VM root %s has no systemd: its init must create SSH host keys (ssh-keygen -A).",
                           c->root_path);
                return 0;
        }
        r = managed_header(c, &header);
        if (r < 0)
                return r;
        if (asprintf(&unit, "%s%s", header, keygen_unit) < 0)
                return log_oom();
        r = write_managed(c, SYSTEMD_UNIT_DIR "/" KEYGEN_UNIT, unit, 0644);
        if (r < 0)
                return r;
        return write_symlink(c, "../" KEYGEN_UNIT, MULTI_USER_WANTS KEYGEN_UNIT);
}

/* ---- ReadyOn=guest: the guest's side of the protocol --------------------- */

static const char ready_unit[] = "[Unit]\n"
                                 "Description=Tell the cowvm host that this VM has booted\n"
                                 "Documentation=man:config-inject(8)\n"
                                 "# The first virtio console is cowvm's readiness channel: KEY=VALUE lines.\n"
                                 "Wants=dev-hvc0.device\n"
                                 "After=dev-hvc0.device multi-user.target\n"
                                 "\n"
                                 "[Service]\n"
                                 "Type=oneshot\n"
                                 "RemainAfterExit=yes\n"
                                 "ExecStart=/bin/sh -c 'echo READY=1 > /dev/hvc0'\n"
                                 "\n"
                                 "[Install]\n"
                                 "WantedBy=multi-user.target\n";

int inject_ready_unit(const InjectContext *c) {
        _cleanup_free_ char *header = NULL, *unit = NULL;
        int r;

        if (c->def->ready_on != READY_ON_GUEST || !guest_has_systemd(c)) {
                if (c->def->ready_on == READY_ON_GUEST)
                        log_notice("The VM root %s has no systemd: its init must write READY=1 to /dev/hvc0 once "
                                   "booted.",
                                   c->root_path);
                r = remove_file(c, MULTI_USER_WANTS READY_UNIT);
                if (r >= 0)
                        r = remove_file(c, SYSTEMD_UNIT_DIR "/" READY_UNIT);
                /* Undo our mask of the getty, but only if it is one. */
                struct stat st;
                char target[16];
                if (r >= 0 && safe_lstat_at(c->root_fd, HVC0_GETTY, &st) >= 0 && S_ISLNK(st.st_mode)) {
                        _cleanup_close_ int dfd = -EBADF;
                        _cleanup_free_ char *name = NULL;
                        ssize_t n = -1;

                        if (safe_open_parent_at(c->root_fd, HVC0_GETTY, &dfd, &name) >= 0)
                                n = readlinkat(dfd, name, target, sizeof(target));
                        if (n == 9 && memcmp(target, "/dev/null", 9) == 0)
                                r = remove_file(c, HVC0_GETTY);
                }
                return r;
        }

        r = managed_header(c, &header);
        if (r < 0)
                return r;
        if (asprintf(&unit, "%s%s", header, ready_unit) < 0)
                return log_oom();
        r = write_managed(c, SYSTEMD_UNIT_DIR "/" READY_UNIT, unit, 0644);
        if (r < 0)
                return r;
        r = write_symlink(c, "../" READY_UNIT, MULTI_USER_WANTS READY_UNIT);
        if (r < 0)
                return r;
        /* systemd-getty-generator starts a login prompt on hvc0 when it exists;
         * that console is the host's readiness channel, not a terminal. */
        return write_symlink(c, "/dev/null", HVC0_GETTY);
}

/* ---- cloud-init --------------------------------------------------------- */

/* cloud-init is disabled outright rather than pointed at the None datasource:
 * everything it would do here comes from the definition already (host name,
 * network, keys, host keys), and with any datasource its modules would
 * override what was injected: disable_root rewrites root's authorized_keys,
 * ssh_deletekeys replaces host keys, the fallback network config names a
 * NIC by name, and ds-identify costs boot time looking for metadata. */
static const char cloud_init_disabled[] =
        "cloud-init is disabled in this VM: cowvm configures it from its definition\n"
        "(host name, network, SSH keys) at every start, and cloud-init would undo that.\n";

int inject_cloud_init(const InjectContext *c) {
        if (!exists(c, "/etc/cloud") && !exists(c, "/usr/bin/cloud-init"))
                return 0;
        return write_managed(c, CLOUD_INIT_DISABLED, cloud_init_disabled, 0644);
}

/* ---- all ------------------------------------------------------------------ */

int inject_all(const InjectContext *c) {
        static int (*const writers[])(const InjectContext *c) = {
                inject_fstab,    inject_hostname,        inject_hosts,         inject_machine_id, inject_network,
                inject_password, inject_authorized_keys, inject_ssh_host_keys, inject_ready_unit, inject_cloud_init,
        };
        int ret = 0;

        for (size_t i = 0; i < ELEMENTSOF(writers); i++) {
                int r = writers[i](c);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}
