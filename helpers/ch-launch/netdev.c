/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "netdev.h"

void tap_host_mac(const struct ether_addr *guest, struct ether_addr *ret) {
        *ret = *guest;
        ret->ether_addr_octet[0] = 0xFE;
}

void ether_addr_format(const struct ether_addr *a, char ret[static 18]) {
        const uint8_t *o = a->ether_addr_octet;

        (void) snprintf(ret, 18, "%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], o[3], o[4], o[5]);
}

static int ifreq_init(struct ifreq *ifr, const char *ifname) {
        *ifr = (struct ifreq) {};
        if (strlen(ifname) >= sizeof ifr->ifr_name)
                return -EINVAL;
        strcpy(ifr->ifr_name, ifname);
        return 0;
}

/* Interface ioctls work on any socket; AF_UNIX needs no protocol module. */
static int ioctl_socket(void) {
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
}

int bridge_lookup(const char *bridge, int *ret_ifindex, unsigned *ret_mtu) {
        _cleanup_close_ int s = -EBADF;
        struct ifreq ifr;
        int ifindex, r;

        r = ifreq_init(&ifr, bridge);
        if (r < 0)
                return r;
        s = ioctl_socket();
        if (s < 0)
                return s;
        if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
                return -errno;
        ifindex = ifr.ifr_ifindex;
        if (ioctl(s, SIOCGIFMTU, &ifr) < 0)
                return -errno;
        *ret_ifindex = ifindex;
        *ret_mtu = (unsigned) ifr.ifr_mtu;
        return 0;
}

int tap_open(const char *ifname, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr;
        int r;

        r = ifreq_init(&ifr, ifname);
        if (r < 0)
                return r;
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* IFF_VNET_HDR: Cloud Hypervisor expects it of a tap it gets as an fd
         * (it cannot change the flags of an attached fd), QEMU detects it.
         * No IFF_MULTI_QUEUE: one queue pair, one fd. */
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int tap_attach(const char *ifname, const struct ether_addr *mac, unsigned mtu, const char *bridge) {
        _cleanup_close_ int s = -EBADF;
        struct ifreq ifr;
        int ifindex, r;

        r = ifreq_init(&ifr, ifname);
        if (r < 0)
                return r;
        s = ioctl_socket();
        if (s < 0)
                return s;

        ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        memcpy(ifr.ifr_hwaddr.sa_data, mac->ether_addr_octet, ETH_ALEN);
        if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
                return -errno;

        /* The port's MTU follows the bridge's: a smaller one would lower the
         * bridge's (the kernel adjusts a bridge to its smallest port). */
        if (mtu > 0) {
                (void) ifreq_init(&ifr, ifname);
                ifr.ifr_mtu = (int) mtu;
                if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
                        return -errno;
        }

        (void) ifreq_init(&ifr, ifname);
        if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
                return -errno;
        ifindex = ifr.ifr_ifindex;
        /* SIOCBRADDIF is the bridge's own ioctl: any other kind of interface
         * answers EOPNOTSUPP, which is how "not a bridge" shows. */
        r = ifreq_init(&ifr, bridge);
        if (r < 0)
                return r;
        ifr.ifr_ifindex = ifindex;
        if (ioctl(s, SIOCBRADDIF, &ifr) < 0)
                return -errno;

        (void) ifreq_init(&ifr, ifname);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}
