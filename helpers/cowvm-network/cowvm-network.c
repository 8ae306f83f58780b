/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * cowvm-network start|stop NAME: the host side of a VM's address, run by
 * every vm@NAME.service before the VM starts and after it ended, with root's
 * full privileges: it writes networkd's runtime configuration, which vm@'s
 * sandbox cannot, and asks PID 1 for units.
 *
 * start: the first step of a VM's start: an undefined VM or a rejected
 *        definition fails here, saying where it looked or why. Without a
 *        [Network] Bridge= it does nothing more. On the default network
 *        (Bridge=cowvm0, no Address=) it picks the VM's address
 *        (lease_pick()), hands it to systemd-networkd's DHCP server as a
 *        static lease for the VM's MAC (a drop-in of 80-cowvm0.network in
 *        /run/systemd/network, then a reload), and writes
 *        /run/cowvm/NAME/address (for ch-launch's status and for whoever
 *        lists VMs). It refuses a Forward= whose host port another VM or
 *        program holds, then creates the forwards' units (forward-units.c).
 * stop:  removes the lease and the files again; the forwards' units go
 *        with vm@NAME by themselves.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "forward-units.h"
#include "manager-bus.h"
#include "log.h"
#include "main-func.h"
#include "path-util.h"
#include "safe-fs.h"
#include "strv.h"
#include "vm-definition.h"
#include "vm-network.h"

#define ENABLE_HINT                                                                                                   \
        "Enable the default network with 'ln -s " COWVM_NETWORK_DIR "/* /etc/systemd/network/ && "                    \
        "networkctl reload' (docs/networking.md)"

static int bridge_ipv4(const char *bridge, struct in_addr *ret_addr, unsigned *ret_prefix) {
        struct ifaddrs *ifa = NULL;
        int r = -ENODEV;

        if (getifaddrs(&ifa) < 0)
                return -errno;
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !streq(i->ifa_name, bridge))
                        continue;
                *ret_addr = ((struct sockaddr_in *) i->ifa_addr)->sin_addr;
                *ret_prefix = (unsigned) __builtin_popcount(((struct sockaddr_in *) i->ifa_netmask)->sin_addr.s_addr);
                r = 0;
                break;
        }
        freeifaddrs(ifa);
        return r;
}

/* systemd-networkd may still be configuring the bridge (a VM started at
 * boot): wait a little for its address. */
static int wait_bridge_ipv4(const char *bridge, struct in_addr *ret_addr, unsigned *ret_prefix) {
        int r = -ENODEV;

        for (int i = 0; i < 100; i++) {
                r = bridge_ipv4(bridge, ret_addr, ret_prefix);
                if (r != -ENODEV)
                        return r;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
        return r;
}

/* The first line of DIR/NAME/FILE (a file this helper wrote), without its newline. */
static int read_line(const char *dir, const char *name, const char *file, char *buf, size_t size) {
        _cleanup_free_ char *p = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        if (asprintf(&p, "%s/%s/%s", dir, name, file) < 0)
                return -ENOMEM;
        f = fopen(p, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, (int) size, f))
                return -ENODATA;
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

/* The IPv4 addresses of the other VMs that run (their /run/cowvm/NAME/address). */
static int running_addresses(const char *self, struct in_addr **ret, size_t *ret_n) {
        _cleanup_free_ struct in_addr *l = NULL;
        DIR *dir;
        size_t n = 0;
        struct dirent *de;

        dir = opendir(cowvm_runtime_dir());
        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(dir))) {
                char buf[INET6_ADDRSTRLEN];
                struct in_addr a, *grown;

                if (!vm_name_is_valid(de->d_name) || streq(de->d_name, self))
                        continue;
                if (read_line(cowvm_runtime_dir(), de->d_name, "address", buf, sizeof buf) < 0 ||
                    inet_pton(AF_INET, buf, &a) != 1)
                        continue;
                grown = realloc(l, sizeof(*l) * (n + 1));
                if (!grown) {
                        closedir(dir);
                        return -ENOMEM;
                }
                l = grown;
                l[n++] = a;
        }
        closedir(dir);
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* DIR/NAME replaced atomically (safe-fs): readers see all or nothing. */
static int write_file(const char *dir, const char *name, const char *content) {
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        r = safe_fs_open_root(dir, &dir_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open '%s': %m", dir);
        r = safe_write_file_atomic_at(dir_fd, name, content, strlen(content), 0644, 0, 0, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s/%s': %m", dir, name);
        return 0;
}

static int networkd_reload(void) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_call_method(bus, "org.freedesktop.network1", "/org/freedesktop/network1",
                               "org.freedesktop.network1.Manager", "Reload", &error, NULL, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to reload systemd-networkd: %s (is systemd-networkd running?)",
                                error.message ?: strerror(-r));
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return r;
}

static int lease_dropin_name(const char *name, char **ret) {
        return asprintf(ret, "cowvm-%s.conf", name) < 0 ? -ENOMEM : 0;
}

static int add_static_lease(const VmDefinition *d, char ret[static INET_ADDRSTRLEN]) {
        _cleanup_free_ struct in_addr *used = NULL;
        _cleanup_free_ char *file = NULL, *content = NULL;
        const uint8_t *m = d->mac.ether_addr_octet;
        struct in_addr bridge, a;
        unsigned prefix = 0;
        size_t n_used = 0;
        int r;

        r = wait_bridge_ipv4(COWVM_DEFAULT_BRIDGE, &bridge, &prefix);
        if (r == -ENODEV)
                return log_error_errno(r,
                                       "VM %s is on the default network, but bridge " COWVM_DEFAULT_BRIDGE
                                       " does not exist or has no IPv4 address. " ENABLE_HINT ".",
                                       d->name);
        if (r < 0)
                return log_error_errno(r, "Failed to read the addresses of " COWVM_DEFAULT_BRIDGE ": %m");
        r = running_addresses(d->name, &used, &n_used);
        if (r < 0)
                return log_error_errno(r, "Failed to read the addresses of the running VMs: %m");
        r = lease_pick(d->name, bridge, prefix, used, n_used, &a);
        if (r == -ERANGE)
                return log_error_errno(r, "The subnet of " COWVM_DEFAULT_BRIDGE " (/%u) is too small for leases.",
                                       prefix);
        if (r < 0)
                return log_error_errno(r, "No address left on " COWVM_DEFAULT_BRIDGE " for VM %s: %m", d->name);
        (void) inet_ntop(AF_INET, &a, ret, INET_ADDRSTRLEN);

        if (lease_dropin_name(d->name, &file) < 0 ||
            asprintf(&content,
                     "# VM %s, written by cowvm-network while vm@%s.service runs.\n"
                     "[DHCPServerStaticLease]\nMACAddress=%02x:%02x:%02x:%02x:%02x:%02x\nAddress=%s\n",
                     d->name, d->name, m[0], m[1], m[2], m[3], m[4], m[5], ret) < 0)
                return log_oom();
        if (mkdir("/run/systemd/network", 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create /run/systemd/network: %m");
        if (mkdir(COWVM_LEASE_DROPIN_DIR, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create " COWVM_LEASE_DROPIN_DIR ": %m");
        /* networkd reads it as its own user: a directory made under vm@'s
         * UMask=0077 would hide every lease from it. */
        if (chmod(COWVM_LEASE_DROPIN_DIR, 0755) < 0)
                return log_error_errno(errno, "Failed to make " COWVM_LEASE_DROPIN_DIR " readable: %m");
        r = write_file(COWVM_LEASE_DROPIN_DIR, file, content);
        if (r < 0)
                return r;
        return networkd_reload();
}

/* Which running VM forwards a host port that `f` wants too; NULL if none. */
static int forward_holder(const char *self, const Forward *f, char **ret) {
        DIR *dir = opendir(cowvm_runtime_dir());
        struct dirent *de;

        *ret = NULL;
        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        while (!*ret && (de = readdir(dir))) {
                _cleanup_free_ char *p = NULL;
                _cleanup_fclose_ FILE *file = NULL;
                char line[128];

                if (!vm_name_is_valid(de->d_name) || streq(de->d_name, self))
                        continue;
                if (asprintf(&p, "%s/%s/forwards", cowvm_runtime_dir(), de->d_name) < 0) {
                        closedir(dir);
                        return -ENOMEM;
                }
                file = fopen(p, "re");
                while (file && fgets(line, sizeof line, file)) {
                        Forward other;

                        line[strcspn(line, "\n")] = '\0';
                        if (forward_parse(line, &other) >= 0 && forward_overlaps(f, &other)) {
                                *ret = strdup(de->d_name);
                                break;
                        }
                }
        }
        closedir(dir);
        return 0;
}

/* Whether the host port is free: bound (not listened on) and closed again,
 * the way systemd will bind it for the .socket. */
static int port_bindable(const Forward *f) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        _cleanup_close_ int fd = -EBADF;
        int one = 1, zero = 0, family = f->family == AF_INET ? AF_INET : AF_INET6;
        socklen_t len;

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && f->family == AF_UNSPEC && errno == EAFNOSUPPORT) /* no IPv6 */
                fd = socket(family = AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (family == AF_INET) {
                sa.in = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons(f->host_port) };
                if (f->family == AF_INET)
                        (void) inet_pton(AF_INET, f->host, &sa.in.sin_addr);
                len = sizeof sa.in;
        } else {
                sa.in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_port = htons(f->host_port) };
                if (f->family == AF_INET6)
                        (void) inet_pton(AF_INET6, f->host, &sa.in6.sin6_addr);
                else /* every address of both families, as ListenStream=PORT */
                        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
                len = sizeof sa.in6;
        }
        if (bind(fd, &sa.sa, len) < 0)
                return -errno;
        return 0;
}

static int check_forward(const VmDefinition *d, const char *value) {
        _cleanup_free_ char *holder = NULL;
        Forward f;
        int r;

        if (forward_parse(value, &f) < 0) /* the parser refused it already */
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid Forward=%s in %s.", value, d->path);
        r = forward_holder(d->name, &f, &holder);
        if (r < 0)
                return log_error_errno(r, "Failed to read the forwarded ports of the running VMs: %m");
        if (holder)
                return log_error_errno(SYNTHETIC_ERRNO(EADDRINUSE),
                                       "Forward=%s: host port %u is forwarded to VM %s already (vm@%s.service). "
                                       "Stop that VM or change Forward= in %s.",
                                       value, f.host_port, holder, holder, d->path);
        r = port_bindable(&f);
        if (r == -EADDRINUSE)
                return log_error_errno(r,
                                       "Forward=%s: host port %u is in use by another program "
                                       "(ss -ltnp 'sport = %u' shows which). Change Forward= in %s.",
                                       value, f.host_port, f.host_port, d->path);
        if (r < 0)
                return log_error_errno(r, "Forward=%s: cannot bind host port %u: %m", value, f.host_port);
        return 0;
}

/* The guest's address as the proxies and `cowvm list` want it: the static
 * Address= (without its prefix), else its lease on the default network. */
static int guest_address(const VmDefinition *d, char ret[static INET6_ADDRSTRLEN], int *ret_family) {
        if (d->addresses && d->addresses[0]) {
                size_t n = strcspn(d->addresses[0], "/");

                if (n >= INET6_ADDRSTRLEN)
                        return -EINVAL;
                memcpy(ret, d->addresses[0], n);
                ret[n] = '\0';
                *ret_family = strchr(ret, ':') ? AF_INET6 : AF_INET;
                return 0;
        }
        if (d->bridge && streq(d->bridge, COWVM_DEFAULT_BRIDGE)) {
                *ret_family = AF_INET;
                return add_static_lease(d, ret);
        }
        return -ENOENT; /* DHCP on a bridge of the host's own: not ours to know */
}

static int write_runtime_files(const VmDefinition *d, const char *address) {
        _cleanup_free_ char *content = NULL, *forwards = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        if (address) {
                if (asprintf(&content, "%s\n", address) < 0)
                        return log_oom();
                r = write_file(d->layout.runtime_dir, "address", content);
                if (r < 0)
                        return r;
        }
        if (!d->forwards)
                return 0;
        f = open_memstream(&forwards, &size);
        if (!f)
                return log_oom();
        STRV_FOREACH (v, d->forwards)
                fprintf(f, "%s\n", *v);
        if (fclose(f) != 0)
                return log_oom();
        return write_file(d->layout.runtime_dir, "forwards", forwards);
}

/* One start at a time picks addresses and ports: two VMs started together
 * must not both take the same one. The lock is on /run/cowvm itself, so
 * that nothing is left behind; held until exit. */
static int take_lock(void) {
        int fd;

        if (mkdir(cowvm_runtime_dir(), 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create '%s': %m", cowvm_runtime_dir());
        fd = open(cowvm_runtime_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", cowvm_runtime_dir());
        if (flock(fd, LOCK_EX) < 0)
                return log_error_errno(errno, "Failed to lock '%s': %m", cowvm_runtime_dir());
        return fd; /* left open: the lock goes with the process */
}

/* The forwards: what an earlier start left cleared away (it may hold the
 * ports), the ports checked, the units made for the guest at `address`. */
static int start_forwards(const VmDefinition *d, const char *address, int family) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char target[INET6_ADDRSTRLEN + 2];
        int r;

        r = manager_bus_open(&bus);
        if (r < 0)
                return r;
        r = forward_units_clear(bus, d);
        if (r < 0)
                return r;
        STRV_FOREACH (v, d->forwards) {
                r = check_forward(d, *v);
                if (r < 0)
                        return r;
        }
        r = write_runtime_files(d, address);
        if (r < 0)
                return r;
        (void) snprintf(target, sizeof target, family == AF_INET6 ? "[%s]" : "%s", address);
        return forward_units_start(bus, d, target);
}

static int verb_start(const VmDefinition *d) {
        char address[INET6_ADDRSTRLEN];
        int family = AF_UNSPEC, r;

        /* Every VM's start runs this: one without a NIC gets nothing. */
        if (!d->bridge)
                return 0;
        r = take_lock();
        if (r < 0)
                return r;
        r = guest_address(d, address, &family);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT && d->forwards)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Forward= in %s needs the guest's address: give VM %s an Address=, or put "
                                       "it on the default network (Bridge=" COWVM_DEFAULT_BRIDGE ").",
                                       d->path, d->name);
        if (d->forwards)
                r = start_forwards(d, address, family);
        else
                r = write_runtime_files(d, family != AF_UNSPEC ? address : NULL);
        if (r < 0)
                return r;
        if (family != AF_UNSPEC)
                log_info("Network: VM %s has address %s%s.", d->name, address,
                         d->addresses ? "" : " (static DHCP lease on " COWVM_DEFAULT_BRIDGE ")");
        return 0;
}

static void unlink_runtime_file(const char *name, const char *file) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s/%s", cowvm_runtime_dir(), name, file) >= 0 && unlink(p) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove '%s': %m", p);
}

/* Best effort, and by name alone: a VM whose definition was removed or
 * broken since its start still loses its lease, and its stop never fails
 * over this. A VM without a network has none of these files: a few
 * unlink()s that find nothing. The forwards' units need nothing: they are
 * bound to vm@NAME and stop with it. */
static int verb_stop(const char *name) {
        _cleanup_free_ char *path = NULL, *file = NULL;

        if (!vm_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' is not a valid VM name.", name);

        unlink_runtime_file(name, "address");
        unlink_runtime_file(name, "forwards");
        /* The proxies' address file of earlier versions. */
        unlink_runtime_file(name, "network.env");
        if (lease_dropin_name(name, &file) < 0 || asprintf(&path, COWVM_LEASE_DROPIN_DIR "/%s", file) < 0)
                return log_oom();
        if (unlink(path) >= 0)
                (void) networkd_reload();
        else if (errno != ENOENT)
                log_warning_errno(errno, "Failed to remove '%s': %m", path);
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        int r;

        /* What this writes is read by others (networkd, the proxies' user,
         * `cowvm list`), not vm@'s UMask=0077. */
        umask(0022);
        if (argc != 3 || (!streq(argv[1], "start") && !streq(argv[1], "stop")))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Usage: cowvm-network start|stop NAME");
        if (streq(argv[1], "stop"))
                return verb_stop(argv[2]);
        r = vm_definition_load(argv[2], &d);
        if (r < 0)
                return r;
        return verb_start(d);
}

DEFINE_MAIN_FUNCTION("cowvm-network", LOG_TARGET_CONSOLE, run);
