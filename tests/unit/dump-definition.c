/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* dump-definition NAME: loads a VM definition the way every helper does and
 * prints what it means, one key per line, for the corpus tests. */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "strv.h"
#include "vm-boot.h"
#include "vm-definition.h"

static void print_list(const char *key, char **l) {
        STRV_FOREACH (s, l)
                printf("%s=%s\n", key, *s);
}

static void print_usec(const char *key, usec_t t) {
        char buf[64];

        printf("%s=%s\n", key, t == USEC_UNSET ? "(unset)" : format_timespan_unit(buf, sizeof buf, t));
}

int main(int argc, char *argv[]) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;

        log_setup("cowvm", LOG_TARGET_CONSOLE);
        if (argc != 2)
                return EXIT_FAILURE;
        if (vm_definition_load(argv[1], &d) < 0 || vm_boot_resolve(d) < 0) {
                printf("(rejected)\n");
                return EXIT_SUCCESS;
        }

        printf("name=%s\npath=%s\n", d->name, d->path);
        printf("base=%s\nbase_dir=%s\n", d->base, d->base_dir);
        printf("hypervisor=%s\n", hypervisor_to_string(d->hypervisor) ?: "(auto)");
        printf("cpus=%u\nmemory=%llu\n", d->cpus, (unsigned long long) d->memory);
        printf("kernel_path=%s\ninitrd_path=%s\n", d->kernel_path, d->initrd_path ?: "(none)");
        printf("kernel_command_line=%s\n", d->kernel_command_line ?: "(none)");
        printf("autostart=%s\nephemeral=%s\n", yes_no(d->autostart), yes_no(d->ephemeral));
        /* Only when set, so that the corpus of definitions without them stays as it is. */
        if (d->disk_size > 0)
                printf("disk_size=%llu\n", (unsigned long long) d->disk_size);
        if (d->min_free_space != VM_DEFAULT_MIN_FREE_SPACE)
                printf("min_free_space=%llu\n", (unsigned long long) d->min_free_space);
        printf("ready_on=%s\n", ready_on_to_string(d->ready_on));
        print_usec("timeout_start", d->timeout_start_usec);
        print_usec("timeout_stop", d->timeout_stop_usec);
        printf("hostname=%s\nuser=%s\npassword_hash=%s\n", d->hostname, d->user, d->password_hash ?: "(none)");
        print_list("ssh_authorized_key", d->ssh_authorized_keys);
        printf("bridge=%s\nmac=%02x:%02x:%02x:%02x:%02x:%02x\n", d->bridge ?: "(none)", d->mac.ether_addr_octet[0],
               d->mac.ether_addr_octet[1], d->mac.ether_addr_octet[2], d->mac.ether_addr_octet[3],
               d->mac.ether_addr_octet[4], d->mac.ether_addr_octet[5]);
        print_list("address", d->addresses);
        printf("dhcp=%s\ngateway=%s\n", yes_no(d->dhcp), d->gateway ?: "(none)");
        print_list("dns", d->dns);
        print_list("forward", d->forwards);
        printf("virtiofs_cache=%s\nvirtiofs_thread_pool_size=%u\n", virtiofs_cache_to_string(d->virtiofs_cache),
               d->virtiofs_thread_pool_size);
        printf("upper_dir=%s\nwork_dir=%s\nroot_dir=%s\nvirtiofsd_socket=%s\n", d->layout.upper_dir,
               d->layout.work_dir, d->layout.root_dir, d->layout.virtiofsd_socket);
        return EXIT_SUCCESS;
}
