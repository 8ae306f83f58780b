/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * test-netdev pure: the names and addresses of a VM's NIC (unprivileged).
 * test-netdev kernel: the tap device against the real kernel, in a network
 * namespace of its own (root; exit 77 otherwise): created, enslaved, up,
 * refused when the name exists, and gone when its last fd closes, also when
 * the process holding it is killed with SIGKILL.
 */

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "netdev.h"
#include "tests.h"
#include "vm-identity.h"

static void test_names_and_macs(void) {
        /* Names that differ only late in the string, long and short. */
        static const char *const names[] = {
                "web",
                "web1",
                "web2",
                "abcdefghijkl",
                "abcdefghijkm",
                "database-server-1",
                "database-server-2",
                "database-server-10",
                "a-very-long-vm-name-that-differs-only-at-the-very-end-x",
                "a-very-long-vm-name-that-differs-only-at-the-very-end-y",
        };
        size_t n = ELEMENTSOF(names);
        char taps[ELEMENTSOF(names)][IFNAMSIZ];
        struct ether_addr macs[ELEMENTSOF(names)];

        for (size_t i = 0; i < n; i++) {
                vm_tap_name(names[i], taps[i]);
                vm_stable_mac(names[i], &macs[i]);
                /* Fits IFNAMSIZ with its NUL, and is an interface name the kernel takes. */
                CHECK(strlen(taps[i]) > 0 && strlen(taps[i]) < IFNAMSIZ);
                CHECK(!strpbrk(taps[i], "/: \t"));
                CHECK((macs[i].ether_addr_octet[0] & 0x03) == 0x02);
        }
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++) {
                        if (strcmp(taps[i], taps[j]) == 0 || memcmp(&macs[i], &macs[j], sizeof macs[i]) == 0) {
                                fprintf(stderr, "%s and %s share a tap name or MAC\n", names[i], names[j]);
                                abort();
                        }
                }
        /* 12 characters still fit "vm-NAME"; 13 do not. */
        CHECK_STREQ(taps[3], "vm-abcdefghijkl");
        CHECK(strncmp(taps[5], "vh-data", 7) == 0);

        /* Stable: the same name, the same MAC, on any host, any day. */
        struct ether_addr m;
        char s[18];
        vm_stable_mac("web", &m);
        ether_addr_format(&m, s);
        vm_stable_mac("web", &macs[0]);
        CHECK(memcmp(&m, &macs[0], sizeof m) == 0);
        CHECK(strlen(s) == 17 && s[2] == ':' && s[14] == ':');

        /* The tap's own MAC: FE, then the guest's last five bytes. */
        struct ether_addr g = { { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 } }, h;
        tap_host_mac(&g, &h);
        ether_addr_format(&h, s);
        CHECK_STREQ(s, "fe:11:22:33:44:55");
        ether_addr_format(&g, s);
        CHECK_STREQ(s, "02:11:22:33:44:55");
}

static int ifflags(const char *ifname) {
        _cleanup_close_ int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {};

        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        CHECK(s >= 0);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        return ifr.ifr_flags;
}

static void test_kernel(void) {
        _cleanup_close_ int s = -EBADF, fd = -EBADF, fd2 = -EBADF, stale = -EBADF;
        struct ether_addr guest = { { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee } }, host;
        struct ifreq ifr = {};
        unsigned mtu;
        int ifindex;
        pid_t pid;
        int status;

        s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHECK(s >= 0);

        CHECK(bridge_lookup("br-nosuch", &ifindex, &mtu) == -ENODEV);

        CHECK(ioctl(s, SIOCBRADDBR, "br-test") == 0);
        strcpy(ifr.ifr_name, "br-test");
        ifr.ifr_mtu = 1400;
        CHECK(ioctl(s, SIOCSIFMTU, &ifr) == 0);
        CHECK(bridge_lookup("br-test", &ifindex, &mtu) == 0);
        CHECK(ifindex > 0 && mtu == 1400);

        /* Created, configured, enslaved, up. */
        CHECK(tap_open("vm-test", &fd) == 0);
        tap_host_mac(&guest, &host);
        CHECK(tap_attach("vm-test", &host, mtu, "br-test") == 0);
        CHECK(ifflags("vm-test") & IFF_UP);
        memset(&ifr, 0, sizeof ifr);
        strcpy(ifr.ifr_name, "vm-test");
        CHECK(ioctl(s, SIOCGIFHWADDR, &ifr) == 0);
        CHECK(memcmp(ifr.ifr_hwaddr.sa_data, host.ether_addr_octet, ETH_ALEN) == 0);
        CHECK(ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == 1400);
        /* Already a port of the bridge: adding it again is refused. */
        memset(&ifr, 0, sizeof ifr);
        strcpy(ifr.ifr_name, "br-test");
        ifr.ifr_ifindex = (int) if_nametoindex("vm-test");
        CHECK(ioctl(s, SIOCBRADDIF, &ifr) < 0 && errno == EBUSY);
        /* The flags the hypervisors rely on, and not persistent. */
        memset(&ifr, 0, sizeof ifr);
        CHECK(ioctl(fd, TUNGETIFF, &ifr) == 0);
        CHECK((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) == (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
        CHECK(!(ifr.ifr_flags & IFF_PERSIST));

        /* The name is taken: never attach to the existing device. */
        CHECK(tap_open("vm-test", &fd2) == -EBUSY);
        CHECK(fd2 < 0);

        /* Gone with its last fd. */
        fd = safe_close(fd);
        CHECK(if_nametoindex("vm-test") == 0);

        /* Gone when the holder is killed: what happens to the hypervisor
         * (SIGKILL, or PR_SET_PDEATHSIG when ch-launch is killed). */
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
                int f;
                if (tap_open("vm-test", &f) < 0 || tap_attach("vm-test", &host, 0, "br-test") < 0)
                        _exit(1);
                raise(SIGSTOP);
                pause();
                _exit(0);
        }
        CHECK(waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status));
        CHECK(ifflags("vm-test") & IFF_UP);
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
        CHECK(if_nametoindex("vm-test") == 0);

        /* A stale persistent tap of that name (left by something else) is
         * refused and left alone. */
        stale = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        CHECK(stale >= 0);
        memset(&ifr, 0, sizeof ifr);
        strcpy(ifr.ifr_name, "vm-stale");
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        CHECK(ioctl(stale, TUNSETIFF, &ifr) == 0);
        CHECK(ioctl(stale, TUNSETPERSIST, 1) == 0);
        stale = safe_close(stale);
        CHECK(if_nametoindex("vm-stale") > 0);
        CHECK(tap_open("vm-stale", &fd2) == -EBUSY);
        CHECK(if_nametoindex("vm-stale") > 0);

        /* Not a bridge. */
        CHECK(tap_open("vm-test", &fd) == 0);
        CHECK(tap_attach("vm-test", &host, 0, "lo") == -EOPNOTSUPP);
        CHECK(tap_attach("vm-test", &host, 0, "br-nosuch") == -ENODEV);
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s pure|kernel\n", argv[0]);
                return 2;
        }
        if (strcmp(argv[1], "pure") == 0) {
                test_names_and_macs();
                TESTS_EXIT();
        }
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (tap devices, a network namespace)\n");
                return 77;
        }
        /* Our own network namespace: nothing of the host's is touched, and
         * everything made here vanishes with the process. */
        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "SKIP: cannot create a network namespace: %m\n");
                return 77;
        }
        if (access("/dev/net/tun", F_OK) < 0) {
                fprintf(stderr, "SKIP: no /dev/net/tun\n");
                return 77;
        }
        test_kernel();
        TESTS_EXIT();
}
