/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "host-setup.h"
#include "log.h"
#include "netdev.h"
#include "path-util.h"
#include "vm-identity.h"

/* vm@.service's TimeoutStopSec=, unless the definition sets its own. */
#define DEFAULT_STOP_TIMEOUT (COWVM_DEFAULT_TIMEOUT_STOP_SEC * USEC_PER_SEC)
#define STOP_MARGIN_MAX (5 * USEC_PER_SEC)

static char *find_in_path(const char *name) {
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        char *state = NULL;

        if (!copy)
                return NULL;
        for (char *d = strtok_r(copy, ":", &state); d; d = strtok_r(NULL, ":", &state)) {
                _cleanup_free_ char *p = path_join(d, name);
                if (p && access(p, X_OK) >= 0)
                        return TAKE_PTR(p);
        }
        return NULL;
}

int hypervisor_pick(const VmDefinition *def, const Backend **ret_backend, char **ret_binary) {
        const char *ch = getenv("COWVM_CLOUD_HYPERVISOR"), *qemu = getenv("COWVM_QEMU");
        _cleanup_free_ char *ch_path = NULL, *qemu_path = NULL;
        Hypervisor h = def->hypervisor;

        if (h != HYPERVISOR_QEMU)
                ch_path = ch ? strdup(ch) : find_in_path("cloud-hypervisor");
        if (h != HYPERVISOR_CLOUD_HYPERVISOR)
                qemu_path = qemu ? strdup(qemu) : find_in_path("qemu-system-x86_64");

        if (h < 0)
                h = ch_path ? HYPERVISOR_CLOUD_HYPERVISOR : HYPERVISOR_QEMU;
        if (h == HYPERVISOR_CLOUD_HYPERVISOR && !ch_path)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                       "%s: Hypervisor=cloud-hypervisor, but cloud-hypervisor is not in $PATH "
                                       "(or set $COWVM_CLOUD_HYPERVISOR).",
                                       def->path);
        if (h == HYPERVISOR_QEMU && !qemu_path)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                       "No hypervisor found: install cloud-hypervisor, or QEMU "
                                       "(Debian: qemu-system-x86) for qemu-system-x86_64.");

        *ret_backend = h == HYPERVISOR_QEMU ? &backend_qemu : &backend_cloud_hypervisor;
        if (h == HYPERVISOR_QEMU)
                *ret_binary = TAKE_PTR(qemu_path);
        else
                *ret_binary = TAKE_PTR(ch_path);
        return 0;
}

/* [Network] Bridge=: the VM's tap device on that bridge, handed to the
 * hypervisor as its only fd (netdev.h: the tap goes away with the
 * hypervisor, however it ends). Without Bridge= the VM has no NIC. */
int tap_setup(const VmDefinition *d, int *ret_fd, char ret_ifname[static IFNAMSIZ], char ret_mac[static 18]) {
        _cleanup_close_ int fd = -EBADF;
        struct ether_addr host_mac;
        char ifname[IFNAMSIZ];
        unsigned mtu;
        int ifindex, r;

        *ret_fd = -EBADF;
        if (!d->bridge) {
                if (d->addresses || d->dhcp)
                        log_warning("%s: [Network] has Address= or DHCP=yes but no Bridge= (here or in " COWVM_CONF
                                    "): the VM gets no network interface.",
                                    d->path);
                return 0;
        }

        vm_tap_name(d->name, ifname);
        r = bridge_lookup(d->bridge, &ifindex, &mtu);
        if (r == -ENODEV)
                return log_error_errno(r,
                                       "Bridge %s does not exist: %m. Create it first (docs/networking.md: "
                                       "a systemd-networkd .netdev with Kind=bridge), or change Bridge= "
                                       "in %s or " COWVM_CONF ".",
                                       d->bridge, d->path);
        if (r < 0)
                return log_error_errno(r, "Failed to look up bridge %s: %m", d->bridge);

        r = tap_open(ifname, &fd);
        if (r == -EBUSY)
                return log_error_errno(r,
                                       "A network interface named %s already exists: is VM %s running "
                                       "outside vm@%s.service, or did something else create it? "
                                       "cowvm never takes over an existing interface; if it is stale, "
                                       "remove it with 'ip link delete %s'.",
                                       ifname, d->name, d->name, ifname);
        if (r == -ENOENT)
                return log_error_errno(r,
                                       "Failed to create the tap device %s: /dev/net/tun is missing "
                                       "(modprobe tun).",
                                       ifname);
        if (r < 0)
                return log_error_errno(r, "Failed to create the tap device %s: %m", ifname);

        tap_host_mac(&d->mac, &host_mac);
        r = tap_attach(ifname, &host_mac, mtu, d->bridge);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "%s is not a bridge (Bridge= in %s or " COWVM_CONF ").", d->bridge, d->path);
        if (r < 0)
                return log_error_errno(r, "Failed to add the tap device %s to bridge %s: %m", ifname, d->bridge);

        ether_addr_format(&d->mac, ret_mac);
        strcpy(ret_ifname, ifname);
        log_info("Network: tap %s on bridge %s, guest MAC %s.", ifname, d->bridge, ret_mac);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The kernel and initrd lie in the base, which only root reaches: the
 * hypervisor gets them opened, as /proc/self/fd/N (reopening that checks
 * the file's own mode, not the directories above it). */
int boot_file_open(const char *what, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Cannot read the %s %s: %m", what, path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat the %s %s: %m", what, path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "The %s %s is not a regular file.", what, path);
        if (!(st.st_mode & S_IROTH))
                return log_error_errno(SYNTHETIC_ERRNO(EACCES),
                                       "The %s %s is not readable by other users (mode %04o): the hypervisor, "
                                       "which runs as a user of its own, cannot load it. Make it readable "
                                       "(chmod o+r); the base directory keeps it private.",
                                       what, path, (unsigned) (st.st_mode & 07777));
        return TAKE_FD(fd);
}

/* /dev/kvm is the one device node the hypervisor opens itself. */
int kvm_group(bool kvm, gid_t *ret_gid) {
        struct stat st;

        *ret_gid = (gid_t) -1;
        if (!kvm)
                return 0;
        if (stat("/dev/kvm", &st) < 0)
                return log_error_errno(errno, "Cannot stat /dev/kvm: %m");
        if ((st.st_mode & 0006) == 0006)
                return 0;
        if ((st.st_mode & 0060) == 0060 && st.st_gid != 0) {
                *ret_gid = st.st_gid;
                return 0;
        }
        /* The hypervisor's own error will follow; this one says why. */
        log_warning("/dev/kvm (mode %04o, group %u) is not usable by the hypervisor's user: give its group "
                    "(kvm) read and write access, as udev does by default, or set $COWVM_ACCEL=tcg.",
                    (unsigned) (st.st_mode & 07777), (unsigned) st.st_gid);
        return 0;
}

usec_t stop_timeout_pick(const VmDefinition *def) {
        const char *e = getenv("COWVM_STOP_TIMEOUT_USEC");
        usec_t t = DEFAULT_STOP_TIMEOUT;

        if (e) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(e, &end, 10);
                if (errno == 0 && *end == '\0' && end != e)
                        t = v == 0 ? USEC_INFINITY : (usec_t) v;
                else if (streq(e, "infinity"))
                        t = USEC_INFINITY;
                else
                        log_warning("Ignoring invalid $COWVM_STOP_TIMEOUT_USEC=%s.", e);
        } else if (def->timeout_stop_usec != USEC_UNSET)
                t = def->timeout_stop_usec == 0 ? USEC_INFINITY : def->timeout_stop_usec;

        if (t == USEC_INFINITY)
                return t;
        /* Leave systemd's own timeout room to see our hard stop through. */
        return t - (t / 5 < STOP_MARGIN_MAX ? t / 5 : STOP_MARGIN_MAX);
}
