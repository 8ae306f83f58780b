/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* [Network]: a netplan or systemd-networkd file matched by the VM's MAC. */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "inject-internal.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define NETPLAN_FILE "/etc/netplan/90-cowvm.yaml"
#define NETWORKD_FILE "/etc/systemd/network/90-cowvm.network"

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

        r = inject_managed_header(c, &header);
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
        if (!strv_isempty(d->addresses)) {
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
        if (!strv_isempty(d->dns)) {
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

        r = inject_managed_header(c, &header);
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
        int r, k;

        assert(c);
        if (strv_isempty(d->addresses) && !d->dhcp) {
                /* No [Network] addressing: nothing of ours may linger from
                 * an older definition. The guest's own config is untouched. */
                r = inject_remove(c, NETPLAN_FILE);
                k = inject_remove(c, NETWORKD_FILE);
                return r < 0 ? r : k;
        }

        netplan = guest_tree_exists(&c->root, "/etc/netplan") || guest_tree_exists(&c->root, "/usr/sbin/netplan");
        if (netplan) {
                r = netplan_config(c, &config);
                if (r < 0)
                        return r;
                /* netplan refuses configs others can read (they may hold secrets). */
                r = guest_tree_write_text(&c->root, NETPLAN_FILE, config, 0600, c->owner_uid, c->owner_gid, 0);
                if (r < 0)
                        return r;
                return inject_remove(c, NETWORKD_FILE);
        }

        r = networkd_config(c, &config);
        if (r < 0)
                return r;
        r = guest_tree_write_text(&c->root, NETWORKD_FILE, config, 0644, c->owner_uid, c->owner_gid, 0);
        if (r < 0)
                return r;
        r = inject_remove(c, NETPLAN_FILE);
        if (r < 0)
                return r;

        /* Enable networkd as `systemctl enable` would: the link target is a
         * path in the guest, written as is and never resolved on the host. */
        const char *unit = NULL;
        if (guest_tree_exists(&c->root, "/lib/systemd/system/systemd-networkd.service"))
                unit = "/lib/systemd/system/systemd-networkd.service";
        else if (guest_tree_exists(&c->root, "/usr/lib/systemd/system/systemd-networkd.service"))
                unit = "/usr/lib/systemd/system/systemd-networkd.service";
        if (!unit) {
                log_warning("The VM root %s has no systemd-networkd; '%s' will have no effect in the guest.",
                            c->root.path, NETWORKD_FILE);
                return 0;
        }
        return guest_tree_symlink(&c->root, unit, GUEST_MULTI_USER_WANTS "systemd-networkd.service");
}
